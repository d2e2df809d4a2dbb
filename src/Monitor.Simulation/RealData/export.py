"""Exports the scikit-learn bundled data sets the real-model evaluation uses to CSV files beside this script.

Run with a Python that has scikit-learn: python3 export.py
Each file has a header; the last column, "label", is the class index (diabetes: the regression target, an integer); every other column is an input feature,
written with the precision of the bundled data. The evaluation reads these files and needs no Python.
breast_cancer's class 0 is malignant and 1 benign (scikit-learn's coding); the evaluation makes malignant its rare
positive class. Exported from scikit-learn 1.2.1.
"""
import csv
import os

import sklearn.datasets as d

HERE = os.path.dirname(os.path.abspath(__file__))


def export(name, bunch, names, fmt):
    path = os.path.join(HERE, name + ".csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(names) + ["label"])
        for row, label in zip(bunch.data, bunch.target):
            w.writerow([fmt(v) for v in row] + [int(label)])
    print(path, bunch.data.shape)


def short(v):
    return repr(float(v)).removesuffix(".0") if float(v) == int(v) else repr(float(v))


digits = d.load_digits()
export("digits", digits, [f"px_{r}_{c}" for r in range(8) for c in range(8)], lambda v: str(int(v)))
cancer = d.load_breast_cancer()
export("breast_cancer", cancer, [n.replace(" ", "_") for n in cancer.feature_names], short)
wine = d.load_wine()
export("wine", wine, [n.replace("/", "_") for n in wine.feature_names], short)
diabetes = d.load_diabetes(scaled=False)
export("diabetes", diabetes, diabetes.feature_names, short)
