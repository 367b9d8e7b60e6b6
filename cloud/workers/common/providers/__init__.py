"""One module per provider; `common.providers.registry` imports a module only when a job needs it."""
