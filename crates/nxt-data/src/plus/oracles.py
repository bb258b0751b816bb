# nxt: evalplus's special oracles (evalplus/eval/_special_oracle.py, v0.3.1).
import math as _nxt_math


def _nxt_poly(xs, x):
    """HumanEval/32 (find_zero): the polynomial with coefficients xs at x."""
    return sum([coeff * _nxt_math.pow(x, i) for i, coeff in enumerate(xs)])


def _nxt_surface_Area(base_edge, height):
    """Mbpp/581: "height" as the perpendicular distance from the base to the apex."""
    slant_height = _nxt_math.sqrt((base_edge / 2) ** 2 + height**2)
    base_area = base_edge**2
    lateral_area = 4 * (base_edge * slant_height) / 2
    total_surface_area = base_area + lateral_area
    return round(total_surface_area)


def _nxt_digit_distance_nums(num1, num2):
    """Mbpp/558: both numbers padded with zeros to the same length."""
    str_num1, str_num2 = str(num1), str(num2)
    max_length = max(len(str_num1), len(str_num2))
    str_num1, str_num2 = str_num1.zfill(max_length), str_num2.zfill(max_length)
    total_difference = 0
    for digit1, digit2 in zip(str_num1, str_num2):
        difference = abs(int(digit1) - int(digit2))
        total_difference += difference
    return total_difference
