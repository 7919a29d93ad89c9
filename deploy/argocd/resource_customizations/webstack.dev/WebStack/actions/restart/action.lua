-- Restart the backend: a one-shot request on the WebStack (the operator rolls the backend's Deployment or
-- Rollout, then removes the annotation). The value is the request's time, so each request is a new one.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["webstack.dev/restart-backend"] = os.date("!%Y-%m-%dT%XZ")
return obj
