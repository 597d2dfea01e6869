def rotate_left(text, k):
    