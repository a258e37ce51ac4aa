package awsapi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/awsapi"
)

// TestReadOnlyActions: every EC2 call in the package is a Describe, and
// IAMActions (the skip line, the README's policy) names each of them and
// nothing else.
func TestReadOnlyActions(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\.(\w+)\(ctx, &ec2\.(\w+)Input\{`)
	var used []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			if m[1] != m[2] {
				t.Errorf("%s: call %s with %sInput", f, m[1], m[2])
			}
			if !strings.HasPrefix(m[1], "Describe") {
				t.Errorf("%s: %s is not a read-only Describe call", f, m[1])
			}
			if a := "ec2:" + m[1]; !slices.Contains(used, a) {
				used = append(used, a)
			}
		}
	}
	slices.Sort(used)
	listed := slices.Sorted(slices.Values(awsapi.IAMActions))
	if !slices.Equal(used, listed) {
		t.Errorf("calls %v, IAMActions %v", used, listed)
	}
}
