-- Argo CD health check for platform.example.com HybridCluster and MultiClusterApplication.
-- The operator writes kstatus-style status (operator/hybridcloud/conditions.py): a Ready
-- summary, abnormal-true Reconciling and Stalled, Paused while the pause annotation is set, and
-- observedGeneration. Status that describes an older generation says nothing about the current
-- spec, so it is only trusted once observedGeneration has caught up.
local hs = {}

local function find(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function say(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end
local conditions = status.conditions

local paused = find(conditions, "Paused")
if is_true(paused) then
  hs.status = "Suspended"
  hs.message = say(paused, "Paused")
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local stalled = find(conditions, "Stalled")
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = say(stalled, "Stalled")
  return hs
end

local reconciling = find(conditions, "Reconciling")
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = say(reconciling, "Reconciling")
  return hs
end

local ready = find(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(ready, "Ready")
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = say(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
