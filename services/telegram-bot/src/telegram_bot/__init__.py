"""telegram-bot: the front door. A person talks to their Product Owner agent, asks the API a few
quick questions, watches their tasks' progress, and admins hear of provisioning and incidents."""
