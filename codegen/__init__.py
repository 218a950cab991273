"""Code generation backends; installed as symgrad.codegen."""
