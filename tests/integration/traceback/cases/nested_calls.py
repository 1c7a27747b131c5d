import json


def parse(text):
    return json.loads(text)


def handler(event):
    return parse(event["body"])


handler({"body": "{not json"})
