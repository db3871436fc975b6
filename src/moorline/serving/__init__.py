"""Serving: deployments, traffic policies, consumers and the prediction log.

The domain of the model server: records (:mod:`.models`), the pure routing
rule (:mod:`.routing`), what storage must do (:mod:`.ports`) and the rules
of changing a deployment (:mod:`.service`). The HTTP shell lives in
``moorline.server.serving``; nothing here imports a web or SQL library.
"""
