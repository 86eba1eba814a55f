-- Checks of request bodies for deploy/front/haproxy.cfg, done before Triton parses anything.
--
-- HTTP inference (KServe v2 JSON, optionally followed by binary tensors): the JSON part must have
-- arrived whole, hold no \u escapes (which could spell a key the checks below would not see), nest
-- at most MAX_DEPTH deep, and declare only shapes of non-negative integers whose product stays
-- within the body's Content-Length (a JSON element takes at least one byte, a binary one at least one).
-- Triton 2.51 aborts on a JSON input of shape [1, 2**62], allocates 2 GB for [1, 2**31] and
-- overflows its stack on JSON nested about 100000 deep.
-- gRPC: the first message's 5-byte prefix (compressed flag, length) within the body limit.

local MAX_DEPTH = 64
local MAX_DIGITS = 12

local function nesting_problem(json)
    local depth, in_string, escaped = 0, false, false
    for index = 1, #json do
        local byte = json:byte(index)
        if in_string then
            if escaped then
                escaped = false
            elseif byte == 92 then -- backslash
                escaped = true
            elseif byte == 34 then -- quote
                in_string = false
            end
        elseif byte == 34 then
            in_string = true
        elseif byte == 91 or byte == 123 then -- [ {
            depth = depth + 1
            if depth > MAX_DEPTH then
                return "JSON nested deeper than " .. MAX_DEPTH
            end
        elseif byte == 93 or byte == 125 then -- ] }
            depth = depth - 1
        end
    end
    return nil
end

local function shape_problem(json, limit)
    local position = 1
    while true do
        local _, key_end = json:find('"shape"%s*:%s*', position)
        if key_end == nil then
            return nil
        end
        local array = json:match("^%b[]", key_end + 1)
        if array == nil then
            return "a shape that is not an array"
        end
        local product = 1
        for item in array:sub(2, -2):gmatch("[^,]+") do
            local digits = item:match("^%s*(%d+)%s*$")
            if digits == nil or #digits > MAX_DIGITS then
                return "a shape of other than small non-negative integers: " .. array:sub(1, 64)
            end
            product = product * tonumber(digits)
            if product > limit then
                return "a shape of more elements than the body could carry: " .. array:sub(1, 64)
            end
        end
        position = key_end + #array
    end
end

core.register_action("yolo26_check_infer_json", { "http-req" }, function(txn)
    local body = txn.f:req_body() or ""
    local length = tonumber(txn.f:req_hdr("content-length") or "0") or 0
    local expected = tonumber(txn.f:req_hdr("inference-header-content-length") or "") or length
    local problem
    if #body < expected then
        problem = "the JSON part and the headers together exceed the front's buffer"
    else
        local json = body:sub(1, expected)
        if json:find("\\u", 1, true) then
            problem = "\\u escapes in the JSON part are not accepted"
        else
            problem = nesting_problem(json) or shape_problem(json, length)
        end
    end
    if problem then
        txn:set_var("txn.refusal", problem)
    end
end)

core.register_action("yolo26_check_grpc_message", { "http-req" }, function(txn)
    local body = txn.f:req_body() or ""
    if #body < 5 then
        return
    end
    local compressed, length = string.unpack(">B I4", body)
    local limit = txn:get_var("txn.max_body")
    if compressed ~= 0 then
        txn:set_var("txn.refusal", "compressed gRPC message")
    elseif length > limit then
        txn:set_var("txn.refusal", "gRPC message of " .. length .. " bytes")
    end
end)
