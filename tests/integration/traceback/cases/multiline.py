# py2: yes
class ValidationError(Exception):
    pass


def validate():
    raise ValidationError("2 validation errors for Model\nname\n  field required\nage\n  value is not an integer")


validate()
