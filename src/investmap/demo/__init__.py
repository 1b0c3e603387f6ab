"""The deterministic demo district: `generate`, `write`, `export_files` (see README.md here).

The names load lazily, so that loading the Django app does not import numpy
or the resource models.
"""

__all__ = ["SCALES", "District", "LibraryNotEmpty", "export_files", "generate", "write"]


def __getattr__(name):
    if name in ("generate", "SCALES"):
        from . import generator

        return getattr(generator, name)
    if name == "export_files":
        from .exporter import export_files

        return export_files
    if name in ("write", "LibraryNotEmpty"):
        from . import writer

        return getattr(writer, name)
    if name == "District":
        from .model import District

        return District
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
