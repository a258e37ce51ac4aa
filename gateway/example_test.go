package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigDocumentsEveryKey keeps configs/cgw.example.yaml true:
// it must load, and mention every key.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	p := filepath.Join("..", "configs", "cgw.example.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p, nil, nil); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	for _, k := range Keys() {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(data), leaf+":") {
			t.Errorf("the example does not document %q", k)
		}
	}
}
