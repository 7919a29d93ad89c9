// Command argocd-lua runs an Argo CD resource customization (health.lua, discovery.lua or action.lua) on
// one Kubernetes object, in the Lua sandbox Argo CD gives scripts from `argocd-cm`, and prints the result as
// JSON, so the project's tests check the scripts as Argo CD will run them, not in a looser Lua.
//
// The sandbox follows Argo CD's util/lua: gopher-lua (Lua 5.1) with only the package, base and table
// libraries and an `os` that has `time` and `date` (no string library: `argocd-cm` scripts run without
// useOpenLibs), the object as the global `obj` (JSON numbers become Lua numbers), a one-second budget, and
// the returned table encoded by layeh.com/gopher-json, Argo CD's encoder. Argo CD's own code is not
// vendored: its module drags in the whole of Argo CD.
//
//	argocd-lua health    SCRIPT < object.json   -> {"status": ..., "message": ...}
//	argocd-lua discovery SCRIPT < object.json   -> [{"name": ..., "disabled": ...}, ...] (sorted by name)
//	argocd-lua action    SCRIPT < object.json   -> [{"operation": "patch", "resource": {...}}, ...]
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// Argo CD accepts these health codes; anything else becomes Unknown with this message.
var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: argocd-lua health|discovery|action SCRIPT < object.json"))
	}
	mode, path := os.Args[1], os.Args[2]
	script, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(input, &obj); err != nil {
		fail(fmt.Errorf("the object is not a JSON object: %w", err))
	}
	returned, err := run(obj, string(script))
	if err != nil {
		fail(err)
	}
	var out interface{}
	switch mode {
	case "health":
		out, err = health(returned)
	case "discovery":
		out, err = discovery(returned)
	case "action":
		out, err = action(returned, obj)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-lua:", err)
	os.Exit(1)
}

// run executes the script with `obj` set and returns what it returned, encoded as Argo CD encodes it.
func run(obj map[string]interface{}, script string) ([]byte, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			return nil, err
		}
	}
	safeOs := restrictedOs(l)
	l.SetGlobal(lua.OsLibName, safeOs)
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int { l.Push(safeOs); return 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	returned := l.Get(-1)
	if returned.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", returned.Type())
	}
	return luajson.Encode(returned)
}

// restrictedOs is gopher-lua's own os library cut down to the two functions Argo CD's safe os keeps.
func restrictedOs(l *lua.LState) *lua.LTable {
	if err := l.CallByParam(lua.P{Fn: l.NewFunction(lua.OpenOs), NRet: 1, Protect: true}, lua.LString(lua.OsLibName)); err != nil {
		fail(err)
	}
	full := l.Get(-1).(*lua.LTable)
	l.Pop(1)
	l.SetGlobal(lua.OsLibName, lua.LNil)
	safe := l.NewTable()
	for _, name := range []string{"time", "date"} {
		safe.RawSetString(name, full.RawGetString(name))
	}
	return safe
}

// toLua converts decoded JSON the way Argo CD hands an object to a script.
func toLua(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]interface{}:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func health(encoded []byte) (interface{}, error) {
	var h healthStatus
	if err := json.Unmarshal(encoded, &h); err != nil {
		return nil, err
	}
	if !healthCodes[h.Status] {
		return healthStatus{"Unknown", invalidHealthStatus}, nil
	}
	return h, nil
}

type discovered struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	IconClass   string `json:"iconClass,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// discovery reads the returned map of action name to its settings; an empty table is no action.
func discovery(encoded []byte) (interface{}, error) {
	found := []discovered{}
	if string(encoded) == "[]" {
		return found, nil
	}
	var actions map[string]json.RawMessage
	if err := json.Unmarshal(encoded, &actions); err != nil {
		return nil, err
	}
	for name, raw := range actions {
		action := discovered{Name: name}
		if string(raw) != "[]" { // `{}` in Lua: an action with no settings
			if err := json.Unmarshal(raw, &action); err != nil {
				return nil, fmt.Errorf("action %s: %w", name, err)
			}
			action.Name = name
		}
		found = append(found, action)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, nil
}

type impacted struct {
	Operation string                 `json:"operation"`
	Resource  map[string]interface{} `json:"resource"`
}

// action returns what Argo CD would write: an object returned alone is a patch of that object, with the
// maps Lua turned into empty arrays given back (an empty Lua table encodes as `[]`).
func action(encoded []byte, before map[string]interface{}) (interface{}, error) {
	var out []impacted
	if len(encoded) > 0 && encoded[0] == '[' {
		if err := json.Unmarshal(encoded, &out); err != nil {
			return nil, err
		}
	} else {
		var obj map[string]interface{}
		if err := json.Unmarshal(encoded, &obj); err != nil {
			return nil, err
		}
		out = []impacted{{Operation: "patch", Resource: obj}}
	}
	for _, item := range out {
		if item.Operation == "patch" {
			restoreMaps(item.Resource, before)
		}
	}
	return out, nil
}

// restoreMaps puts back, wherever the original held a map, an empty map the encoder wrote as `[]`.
func restoreMaps(after, before map[string]interface{}) {
	for key, old := range before {
		switch now := after[key].(type) {
		case map[string]interface{}:
			if oldMap, ok := old.(map[string]interface{}); ok {
				restoreMaps(now, oldMap)
			}
		case []interface{}:
			if oldMap, ok := old.(map[string]interface{}); ok && len(now) == 0 {
				after[key] = oldMap
			} else if oldList, ok := old.([]interface{}); ok {
				for i := range now {
					if i < len(oldList) {
						nowMap, isMap := now[i].(map[string]interface{})
						oldItem, wasMap := oldList[i].(map[string]interface{})
						if isMap && wasMap {
							restoreMaps(nowMap, oldItem)
						}
					}
				}
			}
		}
	}
}
