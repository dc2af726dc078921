"""hookstack's Lambda code: one package, every function a module with its own handler.

Never imports ``pulumi``. Only the standard library and boto3 (which the Lambda runtime provides)
are used at run time, so the deployment archive is this package alone.
"""
