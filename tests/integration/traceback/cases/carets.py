def compute(values, weights):
    return (values["a"] * weights["a"] +
            values["b"] * weights["missing"])


compute({"a": 1, "b": 2}, {"a": 3})
