package testreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestScannerAgreesWithEncodingXML reads documents with the fast scanner
// and with encoding/xml: where the scanner reads one, both give the same
// tree; a malformed document the scanner never reads.
func TestScannerAgreesWithEncodingXML(t *testing.T) {
	docs := map[string]string{
		"entities": `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="a &amp; b"><testsuite name="s&lt;1&gt;" time="1,5">
<testcase classname='c "q"' name="t&#65;&#x42;&#x1F600;" time="0.5"><failure message="expected &quot;x&quot;&apos;">line 1
  line 2 &amp; <b>bold</b> tail</failure><system-out><![CDATA[raw <not> &amp; markup]]> after</system-out></testcase>
<!-- a comment - with a dash -->
<testcase name="empty"/>
<testcase name="skipped"><skipped message="later"/></testcase>
<testcase name="unknown"><properties><property name="x" value="y"/></properties><weird><deeper a="1">text</deeper></weird></testcase>
</testsuite>
<testsuite name="outer"><properties><property name="go.version" value="go1.26"/></properties><testsuite name="inner"><testcase name="n"/></testsuite><system-err>suite err</system-err></testsuite>
</testsuites>`,
		"crlf":         "<testsuite name=\"s\">\r\n<testcase name=\"t\"><system-out>a\r\nb\rc</system-out><failure message=\"m\r\nn\">x\r\n</failure></testcase>\r\n</testsuite>\r\n",
		"tabs in attr": "<testsuite name=\"a\tb\nc\"><testcase name=\"t\" time=\" 1 \"/></testsuite>",
		"pi":           "<?xml version='1.0' encoding='utf-8' standalone='yes'?><?other stuff?><testsuite name=\"s\"><testcase name=\"t\"/></testsuite>",
		"namespaces":   `<t:testsuites xmlns:t="urn:t" xmlns="urn:d" xmlns:xsi="urn:xsi"><testsuite xsi:schema="x" name="s"><t:testcase t:name="a"/><testcase name="b"></testcase></testsuite></t:testsuites>`,
		"unicode":      "<testsuite name=\"ünï\"><testcase name=\"测试 ✓\"><system-out>é😀</system-out></testcase></testsuite>",
	}
	files, _ := filepath.Glob("testdata/*.xml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = string(b)
	}
	docs["big"] = string(big20k())
	for name, doc := range docs {
		sc := newScanner([]byte(doc))
		if sc == nil {
			t.Errorf("%s: not for the scanner", name)
			continue
		}
		fast, err := readTokens(name, []byte(doc), sc)
		if err != nil {
			t.Errorf("%s: the scanner did not read it: %v", name, err)
			continue
		}
		slow, err := readTreeXML(name, []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(build(slow, detect(slow), Options{}), build(fast, detect(fast), Options{})); d != "" {
			t.Errorf("%s: the scanner's report differs (-encoding/xml +scanner):\n%s", name, d)
		}
	}

	// What the scanner leaves to encoding/xml: malformed documents and
	// what it does not handle exactly alike.
	for _, doc := range []string{
		`<testsuite><testcase name="a"></testsuite>`,
		`<testsuite><testcase name="a"/>`,
		`<testsuite name="a></testsuite>`,
		`<testsuite name=a></testsuite>`,
		`<testsuite name="a"name="b"></testsuite>`,
		`<testsuite name="<"></testsuite>`,
		`<testsuite>&bogus;</testsuite>`,
		`<testsuite>&#0;</testsuite>`,
		`<testsuite>&#X41;</testsuite>`,
		`<testsuite>& </testsuite>`,
		`<!DOCTYPE x><testsuite/>`,
		`<x:y:testsuite/>`,
		`<testsuite a:="1"/>`,
		`<testsuite :b="1"/>`,
		`<x:testsuite></y:testsuite>`,
		`<testsuite/><testsuite/>`,
		`text<testsuite/>`,
		`<testsuite><!-- a -- b --></testsuite>`,
		`<testsuite><![CDATA[x</testsuite>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><testsuite/>`,
		"<testsuite>\x01</testsuite>",
		"<testsuite>\xff</testsuite>",
		"\uFEFF<testsuite/>",
		`<testsuite></testsuite  x>`,
		`<1testsuite/>`,
		`<testsuite/ >`,
		``,
		`<testsuite>`,
	} {
		sc := newScanner([]byte(doc))
		if sc == nil {
			continue
		}
		if _, err := readTokens("x.xml", []byte(doc), sc); err == nil {
			t.Errorf("the scanner read %q", doc)
		}
	}
	// And a malformed document's error is encoding/xml's, positioned.
	_, err := Parse("bad.xml", []byte("<testsuite>\n<testcase name=\"a\">\n</testsuite>"), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.xml:3:") {
		t.Errorf("error = %v", err)
	}
}
