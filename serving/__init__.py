"""The prediction service (BentoML), its schemas, action policy, ledger and prediction log.

``bentoml serve`` enters the service by importing ``serving.service``, so the one import-time
step of the stage lives here: BentoML 1.4's service SDK builds its IO models with a pydantic API
deprecated in pydantic 2.11 (``PydanticDeprecatedSince211`` at ``import bentoml``'s SDK). That is
BentoML's to fix, not a call of ours; the filter is narrow (that category, from BentoML's SDK
module only) so every other deprecation still shows, and the tests still fail on ours.
"""

from orderlens.console import ignore_known_library_deprecations

ignore_known_library_deprecations()
