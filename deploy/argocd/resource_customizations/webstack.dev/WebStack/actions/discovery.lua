-- The WebStack's Argo CD actions. A paused stack is left alone by the operator, so neither can take effect;
-- a request the operator has not consumed yet (the annotation is still there) is not asked for twice.
local actions = {}
local annotations = obj.metadata.annotations or {}
local spec = obj.spec or {}
local paused = spec.paused == true
-- The operator generates the database's password unless the spec names its source, and the cache's when
-- it runs Redis itself (Managed, the default); with neither it ignores the request (RegenerateIgnored).
local credentials = (spec.database or {}).credentials or {}
local sourced = credentials.secretRef ~= nil or credentials.sealedSecret ~= nil or credentials.externalSecret ~= nil
local generated = not sourced or ((spec.cache or {}).mode or "Managed") == "Managed"
actions["restart"] = {
  ["iconClass"] = "fa fa-fw fa-redo",
  ["disabled"] = paused or annotations["webstack.dev/restart-backend"] ~= nil,
}
actions["rotate-credentials"] = {
  ["iconClass"] = "fa fa-fw fa-key",
  ["disabled"] = paused or not generated or annotations["webstack.dev/regenerate-credentials"] ~= nil,
}
return actions
