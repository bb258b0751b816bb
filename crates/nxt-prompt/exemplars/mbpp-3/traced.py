import math
def is_not_prime(n):  # (0) n=35;
    result = False  # (1) result=False;
    for i in range(2, int(math.sqrt(n))):  # (2) i=2; (3) i=3; (4) i=4;
        if n % i == 0:
            result = True
    return result  # (5) __return__=False;

assert is_not_prime(35) == True  # (6) __exception__=AssertionError();
