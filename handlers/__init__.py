"""Lambda function code, one folder per function family.

Each family is packaged with this file so that the import path inside Lambda
(``handlers.<family>.<module>``) is the same as in the tests.
"""
