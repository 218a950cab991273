"""The .sg grammar (symgrad.lark), shipped as package data of symgrad.grammar."""
