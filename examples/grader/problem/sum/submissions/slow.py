# Right answer, far too slow: it sums each prefix again.
import sys

data = sys.stdin.read().split()
n, xs = int(data[0]), list(map(int, data[1 : 1 + int(data[0])]))
total = 0
for i in range(n):
    total = sum(xs[: i + 1])
print(total)
