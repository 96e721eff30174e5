package vagonsim

import "github.com/vagon-dashboard/dashboard/internal/vagon"

// Regions lists the regions the simulator knows, in a stable order. Creating a
// machine in any other region is refused with client_code 400.
var Regions = []string{"dublin", "frankfurt", "london", "virginia", "oregon", "tokyo", "sao-paulo", "mumbai"}

// regionUTCOffset is each region's offset from UTC in hours, so seeded sessions
// fall in local working hours.
var regionUTCOffset = map[string]int{
	"dublin": 0, "frankfurt": 1, "london": 0, "virginia": -5, "oregon": -8,
	"tokyo": 9, "sao-paulo": -3, "mumbai": 5,
}

// Plan is a subscription plan: it fixes the disk and file storage sizes of
// its machines and which machine types they may use.
type Plan struct {
	ID              int64
	Name            string
	DiskSize        int64 // GB
	FileStorageSize int64 // GB
	MachineTypes    []vagon.MachineType
}

// machineTypes are every machine type of the simulator, by id.
var machineTypes = []vagon.MachineType{
	mtype("7", "c5.2xlarge", "Comet", 8, "16.0", 0, "0.0"),
	mtype("11", "g4dn.xlarge", "Planet", 4, "16.0", 1, "16.0"),
	mtype("15", "g5.xlarge", "Spark", 4, "16.0", 1, "24.0"),
	mtype("21", "g5.2xlarge", "Galaxy", 8, "32.0", 1, "24.0"),
	mtype("25", "g5.4xlarge", "Universe", 16, "64.0", 1, "24.0"),
	mtype("31", "g5.12xlarge", "Nebula", 48, "192.0", 4, "96.0"),
}

func mtype(id, name, friendly string, cpu int, mem string, gpu int, gpuMem string) vagon.MachineType {
	return vagon.MachineType{
		ID:   vagon.ID(id),
		Type: "machine_type",
		Attributes: vagon.MachineTypeAttributes{
			Name: name, FriendlyName: friendly, CPU: cpu, Memory: mem, GPU: gpu, GPUMemory: gpuMem,
		},
	}
}

func typesByID(ids ...string) []vagon.MachineType {
	var out []vagon.MachineType
	for _, id := range ids {
		for _, t := range machineTypes {
			if string(t.ID) == id {
				out = append(out, t)
			}
		}
	}
	return out
}

// plans are the simulator's plans (ids 1, 2, 3).
var plans = []Plan{
	{ID: 1, Name: "Starter", DiskSize: 75, FileStorageSize: 25, MachineTypes: typesByID("7", "11")},
	{ID: 2, Name: "Pro", DiskSize: 125, FileStorageSize: 250, MachineTypes: typesByID("11", "15", "21")},
	{ID: 3, Name: "Studio", DiskSize: 250, FileStorageSize: 500, MachineTypes: typesByID("15", "21", "25", "31")},
}

func findPlan(id int64) *Plan {
	for i := range plans {
		if plans[i].ID == id {
			return &plans[i]
		}
	}
	return nil
}

func findType(id string) (vagon.MachineType, bool) {
	for _, t := range machineTypes {
		if string(t.ID) == id {
			return t, true
		}
	}
	return vagon.MachineType{}, false
}

func planHasType(p *Plan, typeID string) bool {
	for _, t := range p.MachineTypes {
		if string(t.ID) == typeID {
			return true
		}
	}
	return false
}

// software is the catalog of GET /software (sizes in bytes).
var software = []vagon.Software{
	{ID: 1, Name: "Blender 4.2 LTS", Size: 412_090_368},
	{ID: 2, Name: "Unreal Engine 5.4", Size: 41_875_931_136},
	{ID: 3, Name: "Autodesk Maya 2025", Size: 4_617_089_843},
	{ID: 4, Name: "Autodesk 3ds Max 2025", Size: 6_120_328_396},
	{ID: 5, Name: "Cinema 4D 2024", Size: 1_288_490_188},
	{ID: 6, Name: "DaVinci Resolve 19", Size: 3_543_348_019},
	{ID: 7, Name: "Unity 6 LTS", Size: 9_663_676_416},
	{ID: 8, Name: "SketchUp Pro 2024", Size: 1_073_741_824},
	{ID: 9, Name: "Houdini 20.5", Size: 2_576_980_377},
	{ID: 10, Name: "Visual Studio Code", Size: 104_857_600},
}

// baseImages are the images new machines may start from; the one with the
// highest id is "the latest".
var baseImages = []vagon.BaseImage{
	{ID: 100, Name: "Windows Server 2022 (Vagon base)", Size: 32_212_254_720, Type: "base_image"},
	{ID: 101, Name: "Windows Server 2022 + NVIDIA Studio", Size: 38_654_705_664, Type: "base_image"},
	{ID: 102, Name: "Windows 11 Pro (Vagon base)", Size: 42_949_672_960, Type: "base_image"},
}

func findBaseImage(id int64) (vagon.BaseImage, bool) {
	for _, b := range baseImages {
		if b.ID == id {
			return b, true
		}
	}
	return vagon.BaseImage{}, false
}

func findSoftware(id int64) bool {
	for _, s := range software {
		if s.ID == id {
			return true
		}
	}
	return false
}

// Plans returns the simulator's plans with their machine types.
func Plans() []Plan {
	out := make([]Plan, len(plans))
	for i, p := range plans {
		p.MachineTypes = append([]vagon.MachineType(nil), p.MachineTypes...)
		out[i] = p
	}
	return out
}

// MachineTypes returns every machine type the simulator knows, whatever the plan.
func MachineTypes() []vagon.MachineType {
	return append([]vagon.MachineType(nil), machineTypes...)
}
