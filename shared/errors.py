"""The one error type for a user's fixable mistake that is not a bad value or a missing file
(a missing optional extra, a port already in use): the CLI prints its message in one line
and exits 2. It lives here, not in the CLI module, so that ``python -m pipelines.cli`` and
the modules it loads agree on the class."""


class UserError(Exception):
    pass
