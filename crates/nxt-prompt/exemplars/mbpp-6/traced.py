def is_Power_Of_Two(x):  # (1) x=9;
    return x and (not(x & (x - 1)))  # (2) __return__=False;
def differ_At_One_Bit_Pos(a, b):  # (0) a=13, b=9;
    return is_Power_Of_Two(a & b)  # (3) __return__=False;

assert differ_At_One_Bit_Pos(13,9) == True  # (4) __exception__=AssertionError();
