"""symgrad's version, apart from the package's __init__, which imports every
other module lazily: a module that needs it imports it from here."""

__version__ = "0.1.0"
