"""Code every function family shares, packaged into every family's archive.

Pure modules only (the standard library, plus boto3/Powertools where a module
says so): a family imports ``handlers.common.<module>`` in Lambda exactly as
in the tests, because ``components.function.code_archive`` ships this folder
beside the family's own.
"""
