// kstatus-check: prints how sigs.k8s.io/cli-utils' kstatus library (the health
// verdict Flux, kpt and other GitOps tools use) reads an object.
//
//	kstatus-check < object.json              one object as JSON (or YAML) on stdin
//
// Output: one JSON line {"status":"Current|InProgress|Failed|...","message":"..."}.
// Built by scripts/tools/build.sh into the tools cache; used by the kube tests.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kstatus-check < object.json")
		os.Exit(2)
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		fail("parsing the object: %v", err)
	}
	// UnmarshalJSON keeps integers int64, as the API machinery (and kstatus) expect.
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		fail("parsing the object: %v", err)
	}
	res, err := status.Compute(u)
	if err != nil {
		fail("computing the status: %v", err)
	}
	out, _ := json.Marshal(verdict{Status: res.Status.String(), Message: res.Message})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus-check: "+format+"\n", args...)
	os.Exit(1)
}
