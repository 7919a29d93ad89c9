// Command cyclonus-verdicts asks cyclonus's NetworkPolicy engine whether each given connection is allowed.
//
// The stock `cyclonus analyze --mode query-traffic` prints one text table per connection; the tests need a
// machine-readable answer for a few thousand connections under many policy sets, so this reads the same
// inputs (folders of NetworkPolicy YAML or JSON, a JSON list of cyclonus Traffic objects on stdin) and
// prints, for each folder, one JSON verdict per connection, in order. Every decision is cyclonus's own
// (kube.ReadNetworkPoliciesFromPath, matcher.BuildNetworkPolicies, Policy.IsTrafficAllowed).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/kube"
	"github.com/mattfenwick/cyclonus/pkg/matcher"
)

type verdict struct {
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
	Allowed bool `json:"allowed"`
}

type result struct {
	PolicyPath string    `json:"policyPath"`
	Policies   int       `json:"policies"`
	Verdicts   []verdict `json:"verdicts"`
}

type paths []string

func (p *paths) String() string     { return fmt.Sprint(*p) }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	var policyPaths paths
	flag.Var(&policyPaths, "policy-path", "file or folder of NetworkPolicies (one object or a NetworkPolicyList per file); repeatable")
	flag.Parse()
	if len(policyPaths) == 0 {
		fmt.Fprintln(os.Stderr, "usage: cyclonus-verdicts --policy-path DIR [--policy-path DIR ...] < traffic.json")
		os.Exit(2)
	}
	var traffic []*matcher.Traffic
	if err := json.NewDecoder(os.Stdin).Decode(&traffic); err != nil {
		fail("reading traffic JSON from stdin: %v", err)
	}
	results := make([]result, 0, len(policyPaths))
	for _, path := range policyPaths {
		policies, err := kube.ReadNetworkPoliciesFromPath(path)
		if err != nil {
			fail("reading policies from %s: %v", path, err)
		}
		engine := matcher.BuildNetworkPolicies(true, policies)
		verdicts := make([]verdict, len(traffic))
		for i, t := range traffic {
			r := engine.IsTrafficAllowed(t)
			verdicts[i] = verdict{Ingress: r.Ingress.IsAllowed(), Egress: r.Egress.IsAllowed(), Allowed: r.IsAllowed()}
		}
		results = append(results, result{PolicyPath: path, Policies: len(policies), Verdicts: verdicts})
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": results}); err != nil {
		fail("writing JSON: %v", err)
	}
}
