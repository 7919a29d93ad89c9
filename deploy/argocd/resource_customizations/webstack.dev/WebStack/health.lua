-- Argo CD health of a WebStack, from what the operator writes in its status (operator/webstack_operator/status).
-- Runs in Argo CD's argocd-cm sandbox: no string library, so only `..`, tostring and tables.
local hs = { status = "Progressing", message = "Waiting for the WebStack operator to report a status" }
local status = obj.status
if status == nil or status.phase == nil then
  return hs
end

local function condition(ctype)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

-- The one line that says what keeps the stack from Ready: the reason, then the blocker naming the child.
local function blocker()
  local ready = condition("Ready")
  local line = status.blocker
  if line == nil or line == "" then
    line = ready and ready.message or ""
  end
  local reason = status.reason or (ready and ready.reason) or ""
  if reason ~= "" and line ~= "" then
    return reason .. ": " .. line
  end
  if reason ~= "" then
    return reason
  end
  return line
end

-- An invalid spec: the operator rewrites only the Ready and Reconciled conditions (reconcile/decisions.py,
-- invalid_spec_status), so status.reason and status.blocker may still be the last render's.
local function refusal()
  local ready = condition("Ready") or {}
  return (ready.reason or "InvalidSpec") .. ": " .. (ready.message or "the spec cannot be rendered")
end

-- A spec the operator has not reconciled yet: whatever the status says is about an older generation.
local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the WebStack operator to observe generation " .. tostring(generation) ..
    " (status is for " .. tostring(observed or "none") .. ")"
  return hs
end

local phase = status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  local ready = condition("Ready")
  hs.message = (ready and ready.message) or "every component is available"
  if status.url ~= nil then
    hs.message = hs.message .. "; serving " .. status.url
  end
elseif phase == "Paused" then
  hs.status = "Suspended"
  local reconciled = condition("Reconciled")
  hs.message = (reconciled and reconciled.message) or "spec.paused is true: the operator changes nothing"
elseif phase == "Failed" then
  -- Failed (an invalid spec) has no Argo CD status of its own: it is Degraded, and the message says why.
  hs.status = "Degraded"
  hs.message = "Failed: " .. refusal()
elseif phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = "Degraded: " .. blocker()
elseif phase == "Progressing" or phase == "Pending" then
  hs.message = blocker()
  if hs.message == "" then
    hs.message = "Waiting for the stack's components"
  end
else
  hs.status = "Unknown"
  hs.message = "unknown WebStack phase " .. tostring(phase)
end
return hs
