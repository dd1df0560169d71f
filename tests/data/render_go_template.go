// Renders Ollama-style chat templates with Go's own text/template, as Ollama does: a JSON list of
// {template, system, messages} on stdin, a JSON list of rendered strings on stdout. Ollama puts the
// Modelfile's SYSTEM first when no message is a system one; .System joins every system message.
// Used by tests/test_finetune_ollama.py when `go` is installed (standard library only).
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Message struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking"`
}

type Case struct {
	Template string    `json:"template"`
	System   string    `json:"system"`
	Messages []Message `json:"messages"`
}

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []string{}
	for _, c := range cases {
		msgs := c.Messages
		if c.System != "" && msgs[0].Role != "system" {
			msgs = append([]Message{{Role: "system", Content: c.System}}, msgs...)
		}
		system := []string{}
		for _, m := range msgs {
			if m.Role == "system" {
				system = append(system, m.Content)
			}
		}
		t := template.Must(template.New("").Parse(c.Template))
		var b strings.Builder
		if err := t.Execute(&b, map[string]any{"System": strings.Join(system, "\n\n"), "Messages": msgs}); err != nil {
			panic(err)
		}
		out = append(out, b.String())
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
