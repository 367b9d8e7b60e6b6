"""Root test setup: route `import httpx` to httpx2 (the SDKs' client) so respx mocks them.

respx imports httpx when its pytest plugin loads, so pytest runs with `-p no:respx`
(pyproject) and the plugin is loaded here, after the alias.
"""

import httpx2

httpx2.alias_httpx()

pytest_plugins = ["respx.plugin"]
