"""Errors a user can meet, each worded as one line that names the fix."""


class LakehouseError(Exception):
    """A problem the user can fix; the CLI prints its message alone, without a traceback."""


class InputMissingError(LakehouseError):
    pass


class InputUnreadableError(LakehouseError):
    pass


class MetastoreLockedError(LakehouseError):
    pass


class TableMissingError(LakehouseError):
    pass


class DeltaJarsMissingError(LakehouseError):
    pass


class ModelMissingError(LakehouseError):
    pass


class ServerError(LakehouseError):
    pass


class BrowserMissingError(LakehouseError):
    pass


class WriterLockedError(LakehouseError):
    pass


class DiskFullError(LakehouseError):
    pass
