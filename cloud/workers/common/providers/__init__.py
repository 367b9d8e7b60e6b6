"""One module per provider; `common.registry` imports a module only when a job needs it."""
