def count_ways(n):  # (0) n=2;
    A = [0] * n  # (1) A=[0, 0];
    B = [0] * n  # (2) B=[0, 0];
    A[0] = 1  # (3) A=[1, 0];
    A[1] = 0
    B[0] = 0
    B[1] = 1  # (4) B=[0, 1];
    for i in range(2, n + 1):  # (5) i=2;
        A[i] = A[i - 2] + 2 * B[i - 1]  # (6) __exception__=IndexError('list assignment index out of range');
        B[i] = A[i - 1] + B[i - 2]
    return A[n]

assert count_ways(2) == 3  # (7) __exception__=IndexError('list assignment index out of range');
