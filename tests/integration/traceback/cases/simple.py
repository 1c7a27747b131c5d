# py2: yes
def process_report(data):
    return data['scores']


def main():
    result = process_report({})
    return result


main()
