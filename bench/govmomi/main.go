// Command govmomi-bench is the govmomi (Go) peer of the workspace's benchmark
// suite (bench/run.sh). Its subcommands mirror our programs:
//
//	govmomi-bench inventory --url URL [--full] [--page-size N]
//	    the same lines as examples' vm-inventory, through govmomi's view manager,
//	    RetrievePropertiesEx/ContinueRetrievePropertiesEx and mo.LoadObjectContent
//	govmomi-bench floor --url URL [--full] [--page-size N]
//	    logs in and creates the ContainerView with govmomi, then POSTs the same
//	    RetrievePropertiesEx envelopes itself and only reads and counts the bytes
//	govmomi-bench decode --file RESPONSE.xml [--rounds N]
//	    decodes a captured RetrievePropertiesEx response as govmomi's client does
//	govmomi-bench encode [--count 10000] [--rounds 5] --out FILE
//	    builds a VirtualMachineConfigSpec with --count device changes and times
//	    the marshalling of its ReconfigVM_Task request envelope as the soap
//	    client does it (soap.Envelope + methods.ReconfigVM_TaskBody, vim25/xml);
//	    writes one envelope to FILE
//	govmomi-bench concurrent --url URL [--calls 256] [--rounds 3]
//	    per round, --calls concurrent RetrieveProperties(summary) calls, one per
//	    VM and goroutine, on one client, each loaded into mo.VirtualMachine;
//	    prints name, power state, CPUs and memory of the last round's VMs
//	govmomi-bench watch --url URL [--seconds 10]
//	    a new property collector with a filter on
//	    summary.quickStats.overallCpuUsage of every VM (through a ContainerView),
//	    WaitForUpdatesEx (maxWaitSeconds 1) in a loop for --seconds; counts the
//	    changes and their lag (the simulator's -churn writes the time as value)
//
// The URL carries the credentials (https://user:pass@host/sdk); TLS certificates
// are not verified (like --insecure). A summary goes to stderr; encode,
// concurrent and watch end it with one line "STATS key=value ..."
// (bench/run.sh reads it).
//
// Build in GOPATH mode against the Debian govmomi package (bench/govmomi/build.sh).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

var fourPaths = []string{"name", "runtime.powerState", "summary.config.numCpu", "config.extraConfig"}
var fullPaths = []string{"config", "summary", "runtime"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: govmomi-bench inventory|floor|decode|encode|concurrent|watch [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "inventory":
		err = inventory(os.Args[2:])
	case "floor":
		err = floor(os.Args[2:])
	case "decode":
		err = decode(os.Args[2:])
	case "encode":
		err = encode(os.Args[2:])
	case "concurrent":
		err = concurrent(os.Args[2:])
	case "watch":
		err = watch(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "govmomi-bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

type connFlags struct {
	url      string
	full     bool
	pageSize int
	save     string
}

func parseConn(name string, args []string) (*connFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &connFlags{}
	fs.StringVar(&c.url, "url", "", "vSphere URL with credentials")
	fs.BoolVar(&c.full, "full", false, "retrieve config, summary and runtime")
	fs.IntVar(&c.pageSize, "page-size", 1000, "objects per page (maxObjects)")
	fs.Bool("insecure", true, "accepted for symmetry; certificates are never verified")
	fs.StringVar(&c.save, "save", "", "floor: write the first response to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.url == "" {
		return nil, errors.New("--url is required")
	}
	return c, nil
}

// countingBody counts the bytes read from a response body.
type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	atomic.AddInt64(b.n, int64(n))
	return n, err
}

// countingTransport wraps an http.RoundTripper and counts response body bytes.
type countingTransport struct {
	inner http.RoundTripper
	n     int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.inner.RoundTrip(r)
	if err == nil && res.Body != nil {
		res.Body = countingBody{res.Body, &t.n}
	}
	return res, err
}

// login connects (TLS unverified) and logs in with the URL's credentials.
func login(ctx context.Context, raw string) (*govmomi.Client, error) {
	u, err := soap.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return govmomi.NewClient(ctx, u, true)
}

func containerView(ctx context.Context, c *govmomi.Client) (*view.ContainerView, error) {
	m := view.NewManager(c.Client)
	return m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
}

// eachPage runs RetrievePropertiesEx (pageSize objects a page, 0 for the
// server's choice) and ContinueRetrievePropertiesEx until the last page, handing
// each page to page as VirtualMachines (mo.LoadObjectContent).
func eachPage(ctx context.Context, c *govmomi.Client, spec types.PropertyFilterSpec, pageSize int, page func([]mo.VirtualMachine)) error {
	pc := c.PropertyCollector().Reference()
	res, err := methods.RetrievePropertiesEx(ctx, c.Client, &types.RetrievePropertiesEx{
		This:    pc,
		SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: int32(pageSize)},
	})
	for err == nil && res.Returnval != nil {
		var vms []mo.VirtualMachine
		if err = mo.LoadObjectContent(res.Returnval.Objects, &vms); err != nil {
			return err
		}
		page(vms)
		if res.Returnval.Token == "" {
			return nil
		}
		var next *types.ContinueRetrievePropertiesExResponse
		next, err = methods.ContinueRetrievePropertiesEx(ctx, c.Client, &types.ContinueRetrievePropertiesEx{
			This: pc, Token: res.Returnval.Token,
		})
		if err == nil {
			res = &types.RetrievePropertiesExResponse{Returnval: &next.Returnval}
		}
	}
	return err
}

// loginWithView logs in and creates the ContainerView of every VM.
func loginWithView(ctx context.Context, raw string) (*govmomi.Client, *view.ContainerView, error) {
	c, err := login(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	v, err := containerView(ctx, c)
	if err != nil {
		_ = c.Logout(ctx)
		return nil, nil, err
	}
	return c, v, nil
}

type vmLine struct{ name, text string }

func sortAndPrint(lines []vmLine) {
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].name != lines[j].name {
			return lines[i].name < lines[j].name
		}
		return lines[i].text < lines[j].text
	})
	var b strings.Builder
	b.Grow(len(lines) * 48)
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	os.Stdout.WriteString(b.String())
}

func lineOf(vm *mo.VirtualMachine, full bool) vmLine {
	var name, power, cpus string
	extra := 0
	if full {
		if vm.Config != nil {
			name = vm.Config.Name
		} else if vm.Summary.Config.Name != "" {
			name = vm.Summary.Config.Name
		}
	} else {
		name = vm.Name
	}
	power = string(vm.Runtime.PowerState)
	if vm.Summary.Config.NumCpu != 0 {
		cpus = strconv.Itoa(int(vm.Summary.Config.NumCpu))
	}
	if vm.Config != nil {
		extra = len(vm.Config.ExtraConfig)
	}
	return vmLine{name, fmt.Sprintf("%s\t%s\t%s\t%d", name, power, cpus, extra)}
}

func filterSpec(v *view.ContainerView, paths []string) types.PropertyFilterSpec {
	return types.PropertyFilterSpec{
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: paths}},
		ObjectSet: []types.ObjectSpec{{
			Obj:  v.Reference(),
			Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
				SelectionSpec: types.SelectionSpec{Name: "view"},
				Type:          "ContainerView",
				Path:          "view",
				Skip:          types.NewBool(false),
			}},
		}},
	}
}

func inventory(args []string) error {
	cf, err := parseConn("inventory", args)
	if err != nil {
		return err
	}
	started := time.Now()
	ctx := context.Background()
	c, err := login(ctx, cf.url)
	if err != nil {
		return err
	}
	counter := &countingTransport{inner: c.Client.Client.Client.Transport}
	if counter.inner == nil {
		counter.inner = http.DefaultTransport
	}
	c.Client.Client.Client.Transport = counter
	v, err := containerView(ctx, c)
	if err != nil {
		return err
	}
	paths := fourPaths
	if cf.full {
		paths = fullPaths
	}
	var lines []vmLine
	pages := 0
	err = eachPage(ctx, c, filterSpec(v, paths), cf.pageSize, func(vms []mo.VirtualMachine) {
		pages++
		for i := range vms {
			lines = append(lines, lineOf(&vms[i], cf.full))
		}
	})
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	sortAndPrint(lines)
	fmt.Fprintf(os.Stderr, "govmomi-bench inventory: %d VMs, %d pages, %d bytes received, %.2f s\n",
		len(lines), pages, atomic.LoadInt64(&counter.n), time.Since(started).Seconds())
	_ = c.Logout(ctx)
	return nil
}

// --- floor: the client that only reads the bytes ----------------------------

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const envelopeHead = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
	`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeTail = `</soapenv:Body></soapenv:Envelope>`

func retrieveEnvelope(pc, viewRef types.ManagedObjectReference, paths []string, pageSize int) string {
	var b strings.Builder
	b.WriteString(envelopeHead)
	b.WriteString(`<RetrievePropertiesEx xmlns="urn:vim25">`)
	fmt.Fprintf(&b, `<_this type="%s">%s</_this>`, esc(pc.Type), esc(pc.Value))
	b.WriteString(`<specSet><propSet><type>VirtualMachine</type>`)
	for _, p := range paths {
		fmt.Fprintf(&b, `<pathSet>%s</pathSet>`, esc(p))
	}
	b.WriteString(`</propSet><objectSet>`)
	fmt.Fprintf(&b, `<obj type="%s">%s</obj>`, esc(viewRef.Type), esc(viewRef.Value))
	b.WriteString(`<skip>true</skip><selectSet xsi:type="TraversalSpec"><name>view</name>` +
		`<type>ContainerView</type><path>view</path><skip>false</skip></selectSet>` +
		`</objectSet></specSet>`)
	fmt.Fprintf(&b, `<options><maxObjects>%d</maxObjects></options>`, pageSize)
	b.WriteString(`</RetrievePropertiesEx>`)
	b.WriteString(envelopeTail)
	return b.String()
}

func continueEnvelope(pc types.ManagedObjectReference, token string) string {
	return envelopeHead + `<ContinueRetrievePropertiesEx xmlns="urn:vim25">` +
		fmt.Sprintf(`<_this type="%s">%s</_this><token>%s</token>`, esc(pc.Type), esc(pc.Value), esc(token)) +
		`</ContinueRetrievePropertiesEx>` + envelopeTail
}

// firstByte is when post first read a body byte (zero before): floor reports it.
var firstByte time.Time

// post sends one envelope and reads the response to its end in fixed-size
// chunks, counting bytes. Besides counting it only looks for a <token> element
// (the server's continuation), which RetrieveResult carries before its objects.
func post(hc *http.Client, endpoint, action, body string, save io.Writer) (int64, string, error) {
	req, err := http.NewRequest("POST", endpoint, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", action)
	res, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	buf := make([]byte, 64*1024)
	var n int64
	var window []byte // unsearched tail carried across chunks, while looking for the token
	token, searching := "", true
	for {
		k, rerr := res.Body.Read(buf)
		n += int64(k)
		if k > 0 && firstByte.IsZero() {
			firstByte = time.Now()
		}
		if save != nil && k > 0 {
			if _, err := save.Write(buf[:k]); err != nil {
				return n, "", err
			}
		}
		if searching && k > 0 {
			window = append(window, buf[:k]...)
			if i := bytes.Index(window, []byte("<objects")); i >= 0 {
				window = window[:i] // the token comes before the objects
				searching = false
			}
			if i := bytes.Index(window, []byte("<token>")); i >= 0 {
				if j := bytes.Index(window[i:], []byte("</token>")); j >= 0 {
					token = string(window[i+len("<token>") : i+j])
					searching = false
				}
			}
			if !searching {
				window = nil
			} else if len(window) > 4096 {
				window = append(window[:0], window[len(window)-256:]...)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, "", rerr
		}
	}
	if res.StatusCode != http.StatusOK {
		return n, "", fmt.Errorf("HTTP %s", res.Status)
	}
	return n, token, nil
}

func floor(args []string) error {
	cf, err := parseConn("floor", args)
	if err != nil {
		return err
	}
	started := time.Now()
	ctx := context.Background()
	c, v, err := loginWithView(ctx, cf.url)
	if err != nil {
		return err
	}
	paths := fourPaths
	if cf.full {
		paths = fullPaths
	}
	pc := c.PropertyCollector().Reference()
	sc := c.Client.Client
	endpoint := sc.URL()
	plain := *endpoint
	plain.User = nil
	action := fmt.Sprintf("%s/%s", sc.Namespace, sc.Version)
	// The soap client's http.Client holds the session cookie in its jar and the
	// unverified-TLS transport.
	hc := &sc.Client

	var save io.Writer
	if cf.save != "" {
		f, err := os.Create(cf.save)
		if err != nil {
			return err
		}
		defer f.Close()
		save = f
	}
	var total int64
	pages := 0
	n, token, err := post(hc, plain.String(), action, retrieveEnvelope(pc, v.Reference(), paths, cf.pageSize), save)
	for {
		if err != nil {
			break
		}
		total += n
		pages++
		if token == "" {
			break
		}
		n, token, err = post(hc, plain.String(), action, continueEnvelope(pc, token), nil)
	}
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "govmomi-bench floor: %d pages, %d bytes received, %.2f s; first body byte at %.3f s\n",
		pages, total, time.Since(started).Seconds(), firstByte.Sub(started).Seconds())
	fmt.Printf("%d\n", total)
	_ = c.Logout(ctx)
	return nil
}

// --- decode: a captured response, as govmomi's soap client decodes it --------

func decodeOnce(data []byte, toMo bool) (int, error) {
	var body methods.RetrievePropertiesExBody
	env := soap.Envelope{Body: &body}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&env); err != nil {
		return 0, err
	}
	if body.Fault_ != nil {
		return 0, errors.New("response is a fault")
	}
	if body.Res == nil || body.Res.Returnval == nil {
		return 0, errors.New("no RetrievePropertiesExResponse returnval")
	}
	objs := body.Res.Returnval.Objects
	if !toMo {
		return len(objs), nil
	}
	var vms []mo.VirtualMachine
	if err := mo.LoadObjectContent(objs, &vms); err != nil {
		return 0, err
	}
	return len(vms), nil
}

func decode(args []string) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	file := fs.String("file", "", "captured RetrievePropertiesEx response")
	rounds := fs.Int("rounds", 5, "timed decodes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	for _, mode := range []struct {
		label string
		toMo  bool
	}{{"typed ObjectContent", false}, {"typed mo.VirtualMachine", true}} {
		if _, err := decodeOnce(data, mode.toMo); err != nil { // warm up
			return err
		}
		t0 := time.Now()
		count := 0
		for i := 0; i < *rounds; i++ {
			if count, err = decodeOnce(data, mode.toMo); err != nil {
				return err
			}
		}
		secs := time.Since(t0).Seconds() / float64(*rounds)
		fmt.Printf("%s\t%.1f MB/s\t%.1f ms\t%d objects\n", mode.label, float64(len(data))/1e6/secs, secs*1e3, count)
	}
	return nil
}

// --- encode: a ReconfigVM_Task request, as govmomi's soap client marshals it --

// reconfigSpec builds the spec of the benchmark: count device changes,
// alternately a new thin disk and a new vmxnet3 card.
func reconfigSpec(count int) *types.VirtualMachineConfigSpec {
	spec := &types.VirtualMachineConfigSpec{
		DeviceChange: make([]types.BaseVirtualDeviceConfigSpec, 0, count),
	}
	for i := 0; i < count; i++ {
		key := int32(-(i + 1))
		if i%2 == 0 {
			spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
				Operation:     types.VirtualDeviceConfigSpecOperationAdd,
				FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
				Device: &types.VirtualDisk{
					VirtualDevice: types.VirtualDevice{
						Key:           key,
						ControllerKey: 1000,
						UnitNumber:    types.NewInt32(int32(i % 16)),
						Backing: &types.VirtualDiskFlatVer2BackingInfo{
							VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
								FileName: fmt.Sprintf("[LocalDS_0] bench/disk-%d.vmdk", i),
							},
							DiskMode:        string(types.VirtualDiskModePersistent),
							ThinProvisioned: types.NewBool(true),
						},
					},
					CapacityInKB: int64(1048576 + i),
				},
			})
			continue
		}
		nic := &types.VirtualVmxnet3{}
		nic.Key = key
		nic.ControllerKey = 100
		nic.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
		nic.Backing = &types.VirtualEthernetCardNetworkBackingInfo{
			VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
		}
		nic.Connectable = &types.VirtualDeviceConnectInfo{
			StartConnected:    true,
			AllowGuestControl: true,
			Connected:         false,
		}
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd,
			Device:    nic,
		})
	}
	return spec
}

// marshalRequest encodes a request body the way soap.Client.RoundTrip does:
// xml.Marshal of a soap.Envelope (no header without a session cookie); the
// client sends xml.Header in front of the result.
func marshalRequest(body soap.HasFault) ([]byte, error) {
	return xml.Marshal(soap.Envelope{Body: body})
}

func encode(args []string) error {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	count := fs.Int("count", 10000, "device changes in the spec")
	rounds := fs.Int("rounds", 5, "timed encodes")
	out := fs.String("out", "", "write one encoded envelope to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if *count < 0 || *rounds < 1 {
		return errors.New("--count must not be negative and --rounds must be at least 1")
	}
	body := &methods.ReconfigVM_TaskBody{Req: &types.ReconfigVM_Task{
		This: types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-42"},
		Spec: *reconfigSpec(*count),
	}}
	b, err := marshalRequest(body) // warm-up
	if err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < *rounds; i++ {
		if b, err = marshalRequest(body); err != nil {
			return err
		}
	}
	secs := time.Since(t0).Seconds() / float64(*rounds)
	envelope := append([]byte(xml.Header), b...)
	if err := os.WriteFile(*out, envelope, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "govmomi-bench encode: %d device changes, %d bytes, %d rounds\n", *count, len(envelope), *rounds)
	fmt.Fprintf(os.Stderr, "STATS specs=%d bytes=%d ms=%.3f mbps=%.1f\n",
		*count, len(envelope), secs*1e3, float64(len(envelope))/1e6/secs)
	return nil
}

// --- concurrent: many small RetrieveProperties calls at once on one client ---

// vmsByName lists every VM (name only) through the ContainerView, following
// continuation tokens, and returns their references sorted by name.
func vmsByName(ctx context.Context, c *govmomi.Client, v *view.ContainerView) ([]types.ManagedObjectReference, error) {
	type named struct {
		name string
		ref  types.ManagedObjectReference
	}
	var all []named
	err := eachPage(ctx, c, filterSpec(v, []string{"name"}), 0, func(vms []mo.VirtualMachine) {
		for i := range vms {
			all = append(all, named{vms[i].Name, vms[i].Self})
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	refs := make([]types.ManagedObjectReference, len(all))
	for i := range all {
		refs[i] = all[i].ref
	}
	return refs, nil
}

// retrieveSummary is one call of the concurrent benchmark: RetrieveProperties
// of one VM's summary, loaded into a mo.VirtualMachine as
// property.Collector.Retrieve does.
func retrieveSummary(ctx context.Context, c *govmomi.Client, ref types.ManagedObjectReference) (*mo.VirtualMachine, error) {
	req := types.RetrieveProperties{
		This: c.PropertyCollector().Reference(),
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{Obj: ref}},
			PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"summary"}}},
		}},
	}
	res, err := methods.RetrieveProperties(ctx, c.Client, &req)
	if err != nil {
		return nil, err
	}
	var vms []mo.VirtualMachine
	if err := mo.LoadObjectContent(res.Returnval, &vms); err != nil {
		return nil, err
	}
	if len(vms) != 1 {
		return nil, fmt.Errorf("%s: %d objects in the answer, want 1", ref, len(vms))
	}
	return &vms[0], nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func concurrent(args []string) error {
	fs := flag.NewFlagSet("concurrent", flag.ContinueOnError)
	rawURL := fs.String("url", "", "vSphere URL with credentials")
	calls := fs.Int("calls", 256, "concurrent calls per round (one per VM)")
	rounds := fs.Int("rounds", 3, "timed rounds")
	fs.Bool("insecure", true, "accepted for symmetry; certificates are never verified")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rawURL == "" {
		return errors.New("--url is required")
	}
	if *calls < 1 || *rounds < 1 {
		return errors.New("--calls and --rounds must be at least 1")
	}
	ctx := context.Background()
	c, v, err := loginWithView(ctx, *rawURL)
	if err != nil {
		return err
	}
	refs, err := vmsByName(ctx, c, v)
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	if len(refs) < *calls {
		return fmt.Errorf("%d VMs, fewer than --calls %d", len(refs), *calls)
	}
	refs = refs[:*calls]

	var vms []*mo.VirtualMachine
	var times []time.Duration
	for r := 0; r < *rounds; r++ {
		vms = make([]*mo.VirtualMachine, len(refs))
		errs := make([]error, len(refs))
		var wg sync.WaitGroup
		t0 := time.Now()
		for k := range refs {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				vms[k], errs[k] = retrieveSummary(ctx, c, refs[k])
			}(k)
		}
		wg.Wait()
		times = append(times, time.Since(t0))
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "govmomi-bench concurrent: round %d: %d calls in %.1f ms\n", r+1, len(refs), millis(times[r]))
	}

	lines := make([]vmLine, len(vms))
	for i, vm := range vms {
		cfg := vm.Summary.Config
		lines[i] = vmLine{cfg.Name, fmt.Sprintf("%s\t%s\t%d\t%d",
			cfg.Name, vm.Summary.Runtime.PowerState, cfg.NumCpu, cfg.MemorySizeMB)}
	}
	sortAndPrint(lines)

	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	median := millis(times[len(times)/2])
	if len(times)%2 == 0 {
		median = (millis(times[len(times)/2-1]) + median) / 2
	}
	_ = c.Logout(ctx)
	fmt.Fprintf(os.Stderr, "STATS calls=%d rounds=%d median_ms=%.1f min_ms=%.1f\n",
		len(refs), *rounds, median, millis(times[0]))
	return nil
}

// --- watch: WaitForUpdatesEx on a property the simulator keeps changing -------

const churnProperty = "summary.quickStats.overallCpuUsage"

// nowMillisMod1e9 is the clock the simulator's -churn writes as value.
func nowMillisMod1e9(t time.Time) int64 {
	return t.UnixNano() / int64(time.Millisecond) % 1000000000
}

// percentile returns the nearest-rank p-th percentile of sorted values.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted)) * p / 100))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func watch(args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	rawURL := fs.String("url", "", "vSphere URL with credentials")
	seconds := fs.Float64("seconds", 10, "watch this long after the initial update set")
	fs.Bool("insecure", true, "accepted for symmetry; certificates are never verified")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rawURL == "" {
		return errors.New("--url is required")
	}
	ctx := context.Background()
	c, v, err := loginWithView(ctx, *rawURL)
	if err != nil {
		return err
	}
	// A collector of our own, as property.WaitForUpdates creates one.
	pc, err := c.PropertyCollector().Create(ctx)
	if err != nil {
		return err
	}
	err = pc.CreateFilter(ctx, types.CreateFilter{Spec: filterSpec(v, []string{churnProperty})})
	if err != nil {
		_ = pc.Destroy(ctx)
		return err
	}

	req := types.WaitForUpdatesEx{
		This:    pc.Reference(),
		Options: &types.WaitOptions{MaxWaitSeconds: types.NewInt32(1)},
	}
	wait := func() (*types.UpdateSet, time.Time, error) {
		res, err := methods.WaitForUpdatesEx(ctx, c.Client, &req)
		now := time.Now()
		if err != nil {
			return nil, now, err
		}
		if res.Returnval != nil {
			req.Version = res.Returnval.Version
		}
		return res.Returnval, now, nil
	}

	set, first, err := wait()
	vms := 0
	if err == nil && set != nil {
		for _, fu := range set.FilterSet {
			vms += len(fu.ObjectSet)
		}
	}
	last := first
	var lags []int64
	waits := 0
	for err == nil && last.Sub(first).Seconds() < *seconds {
		set, last, err = wait()
		if err != nil {
			break
		}
		waits++
		if set == nil {
			continue // maxWaitSeconds passed without a change
		}
		now := nowMillisMod1e9(last)
		for _, fu := range set.FilterSet {
			for _, ou := range fu.ObjectSet {
				if ou.Kind != types.ObjectUpdateKindModify {
					continue
				}
				for _, pch := range ou.ChangeSet {
					if pch.Name != churnProperty {
						continue
					}
					var value int64
					switch x := pch.Val.(type) {
					case int32:
						value = int64(x)
					case int64:
						value = x
					default:
						err = fmt.Errorf("%s of %s: unexpected value %T", churnProperty, ou.Obj, pch.Val)
						continue
					}
					lags = append(lags, ((now-value)%1000000000+1000000000)%1000000000)
				}
			}
		}
	}
	if derr := pc.Destroy(ctx); err == nil {
		err = derr
	}
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	_ = c.Logout(ctx)

	elapsed := last.Sub(first).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(len(lags)) / elapsed
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var lagMax int64
	if len(lags) > 0 {
		lagMax = lags[len(lags)-1]
	}
	fmt.Printf("vms\t%d\n", vms)
	fmt.Fprintf(os.Stderr, "STATS vms=%d changes=%d seconds=%.2f rate=%.1f lag_p50_ms=%d lag_p99_ms=%d lag_max_ms=%d waits=%d\n",
		vms, len(lags), elapsed, rate, percentile(lags, 50), percentile(lags, 99), lagMax, waits)
	return nil
}
