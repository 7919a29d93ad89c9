-- The WebStack's Argo CD actions. A paused stack is left alone by the operator, so neither can take effect;
-- a request the operator has not consumed yet (the annotation is still there) is not asked for twice.
local actions = {}
local annotations = obj.metadata.annotations or {}
local paused = obj.spec ~= nil and obj.spec.paused == true
actions["restart"] = {
  ["iconClass"] = "fa fa-fw fa-redo",
  ["disabled"] = paused or annotations["webstack.dev/restart-backend"] ~= nil,
}
actions["rotate-credentials"] = {
  ["iconClass"] = "fa fa-fw fa-key",
  ["disabled"] = paused or annotations["webstack.dev/regenerate-credentials"] ~= nil,
}
return actions
