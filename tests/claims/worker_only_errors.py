"""An exception module only the worker imports (tests.claims.tasks.raise_unimportable loads it
inside the task), so that the reading test process has never loaded it."""


class PaymentDeclined(Exception):
    pass
