#!/usr/bin/env python3
"""Linear probe (docs/diffae.md): multinomial logistic regression on fixed features.

  linear_probe.py NAME TRAIN.npy TRAIN_LABELS.npy TEST.npy TEST_LABELS.npy

Features are flattened and standardized with the training set's mean and std; the L2
strength is chosen from a grid on a held-out fifth of the training set, then the model is
refit on all of it. Prints one line: NAME, sizes, the chosen strength, test accuracy.
numpy only (full-batch Adam on the softmax cross-entropy; deterministic).
"""
import sys

import numpy as np


def fit(x, y, l2, classes, steps=600, lr=0.05):
    w = np.zeros((x.shape[1], classes))
    b = np.zeros(classes)
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    onehot = np.eye(classes)[y]
    for step in range(1, steps + 1):
        logits = x @ w + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        grads = [x.T @ g + l2 * w, g.sum(0)]
        for i, (param, grad) in enumerate(zip((w, b), grads)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            param -= lr * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
    return w, b


def accuracy(model, x, y):
    w, b = model
    return float(np.mean(np.argmax(x @ w + b, 1) == y))


def main():
    name, train, train_labels, test, test_labels = sys.argv[1:6]
    xtr = np.load(train).reshape(len(np.load(train)), -1).astype(np.float64)
    xte = np.load(test).reshape(len(np.load(test)), -1).astype(np.float64)
    ytr = np.load(train_labels).round().astype(np.int64).reshape(-1)
    yte = np.load(test_labels).round().astype(np.int64).reshape(-1)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        sys.exit(f"{name}: features and labels differ in length")
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    classes = int(max(ytr.max(), yte.max())) + 1
    cut = len(xtr) * 4 // 5
    scores = {l2: accuracy(fit(xtr[:cut], ytr[:cut], l2, classes), xtr[cut:], ytr[cut:])
              for l2 in (1e-4, 1e-3, 1e-2, 1e-1)}
    l2 = max(scores, key=scores.get)
    acc = accuracy(fit(xtr, ytr, l2, classes), xte, yte)
    print(f"== linear probe {name}: {xtr.shape[1]} features, train {len(xtr)}, test {len(xte)}, "
          f"l2 {l2:g} (validation {scores[l2]:.3f}): test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
