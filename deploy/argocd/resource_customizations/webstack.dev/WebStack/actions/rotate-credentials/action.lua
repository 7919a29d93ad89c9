-- New generated passwords (database and cache): the one-shot `webstack.dev/regenerate-credentials` request
-- (operator/webstack_operator/reconcile/credentials_keeper.py). The operator acts on a value its Secrets do
-- not carry yet, so the request's time makes each request a new one; it removes the annotation when done.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["webstack.dev/regenerate-credentials"] = os.date("!%Y-%m-%dT%XZ")
return obj
