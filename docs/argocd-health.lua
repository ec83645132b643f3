-- Argo CD health check for truetask.io/AdSync (resource.customizations.health.truetask.io_AdSync).
-- Same verdicts as kstatus (Flux, kpt): Stalled -> Degraded, Reconciling -> Progressing,
-- Ready -> Healthy; a spec change not yet observed is Progressing; suspend is Suspended;
-- a plan waiting for approval (Stalled, reason ApprovalRequired) is Suspended, like a paused rollout.
local hs = { status = "Progressing", message = "Waiting for the first run" }
local function condition(t)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == t then return c end
    end
  end
  return nil
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: nothing runs"
  return hs
end
if obj.status == nil then
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for a run of generation " .. obj.metadata.generation
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  if stalled.reason == "ApprovalRequired" then hs.status = "Suspended" end
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.reason .. ": " .. reconciling.message
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
