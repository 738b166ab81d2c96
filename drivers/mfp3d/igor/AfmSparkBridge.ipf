#pragma rtGlobals=3		// strict wave references
#pragma IgorVersion=8.0	// Base64Encode, JSON XOP
#pragma version=1
#pragma ModuleName=AfmSparkBridge

// AfmSparkBridge.ipf — the afm-spark bridge inside Igor Pro, driving the Asylum Research software.
// Protocol: drivers/src/mfp3d/PROTOCOL.md (version 1). The Rust twin is afm_drivers::mfp3d::BridgeServer;
// both must behave the same: same ops (hello, scan, abort, status), same errors, same events.
//
// WHAT IT DOES
//   Serves line-delimited JSON on a serial line, one request at a time. hello checks the token; scan sets
//   ScanSize, FastRatio/SlowRatio, ScanPoints/ScanLines, ScanRate, XOffset/YOffset, ScanAngle, starts
//   one frame (DoScanFunc("DoScan_0"), LastScan set), polls ScanStatus (at most every kPollS), sends
//   heartbeat/progress events, and when the frame is saved returns the .ibw bytes as base64.
//   A second scan while one runs -> "busy"; abort -> DoScanFunc("StopScan_0").
//
// TRANSPORT: WHY SERIAL (VDT2) AND NOT A TCP LISTENER
//   SOCKIT (the usual Igor TCP XOP) is a TCP *client*: SOCKITopenconnection only connect()s, it has no
//   listen/accept (checked in its source), and Igor Pro 8/9 have no built-in TCP server operation
//   (URLRequest/FetchURL are HTTP clients). A bridge must *serve*, so this file serves on a serial port
//   with VDT2, the serial XOP that ships with Igor ("More Extensions (64-bit)/Data Acquisition"): a
//   null-modem cable from the afm-spark computer, or, on the same PC, a virtual COM-port pair. The
//   afm-spark client speaks the identical protocol over serial (Endpoint::Serial); for a TCP endpoint,
//   afm_drivers::mfp3d::relay::relay_tcp_to_serial listens on loopback and relays one client at a time
//   to the line (authentication stays end to end). Over serial the bridge cannot see a client leave, so
//   it cannot abort an orphaned frame itself: the client's heartbeat watchdog / timeout sends abort.
//   JSON is parsed and written with the JSON XOP (byte-physics, free; JSON_Parse/JSON_Dump/...), not
//   by hand.
//
// START / STOP (from the command line, after the Asylum software is up and the tip engaged):
//   AfmSparkBridge#Start("COM5", 115200, "C:path:to:token.txt")   // token: first line of that file
//   AfmSparkBridge#Stop()
//
// NOT VERIFIABLE WITHOUT AN INSTRUMENT (we could not run Igor): the Asylum calls below
// (MainSetVarFunc control names, PV/GV/GS names, SaveImage as a string giving the save folder, the
// saved file being BaseName+4-digit BaseSuffix+".ibw"), the VDT2 flags, and the exact JSON XOP
// optional-parameter names. Everything protocol-side mirrors the tested Rust server.

// ---- settings ----------------------------------------------------------------------------------
static Constant kProtocol = 1
static Constant kHeartbeatS = 1			// heartbeat interval while a frame scans, s
static Constant kPollS = 0.25			// ScanStatus is read at most this often, s (rate limit)
static Constant kTaskTicks = 6			// background task period, ticks (1/60 s) -> 0.1 s
static Constant kMaxRequestBytes = 65536
static Constant kSaveWaitS = 30			// after ScanStatus drops, wait this long for the .ibw
static StrConstant kDF = "root:Packages:AfmSparkBridge"

// Safe limits reported in hello (and checked before anything moves). SET THESE FOR YOUR SCANNER.
static Constant kMaxScanSizeM = 90e-6
static Constant kXMinM = -45e-6, kXMaxM = 45e-6, kYMinM = -45e-6, kYMaxM = 45e-6
static Constant kMinPoints = 16, kMaxPoints = 4096, kMinLines = 16, kMaxLines = 4096
static Constant kMinRateHz = 0.05, kMaxRateHz = 20

// ---- start / stop --------------------------------------------------------------------------------
static Function Start(portName, baud, tokenPath)
	String portName, tokenPath
	Variable baud

	NewDataFolder/O root:Packages
	NewDataFolder/O $kDF
	DFREF df = $kDF
	String/G df:gPort = portName, df:gBuffer = "", df:gToken = ReadTokenFile(tokenPath)
	Variable/G df:gAuthed = 0, df:gScanning = 0, df:gScanId = -1, df:gT0 = 0, df:gLastBeat = 0
	Variable/G df:gLastPoll = 0, df:gStatus = 0, df:gLines = 0, df:gLastLine = -1, df:gSuffix = 0, df:gDoneAt = 0
	SVAR token = df:gToken
	if (strlen(token) == 0)
		Abort "AfmSparkBridge: the token file is empty or unreadable"
	endif
	VDT2/P=$portName baud=baud, databits=8, stopbits=1, parity=0, in=0, out=0
	VDTOperationsPort2 $portName
	CtrlNamedBackground AfmSparkBridge, period=kTaskTicks, proc=AfmSparkBridge#Task, start
	printf "AfmSparkBridge: serving protocol v%d on serial %s at %d baud\r", kProtocol, portName, baud
End

static Function Stop()
	CtrlNamedBackground AfmSparkBridge, stop
	SVAR/Z port = $(kDF + ":gPort")
	if (SVAR_Exists(port))
		VDTClosePort2 $port
	endif
	print "AfmSparkBridge: stopped"
End

static Function/S ReadTokenFile(path)
	String path
	Variable ref
	String line = ""
	Open/R/Z ref as path
	if (V_flag)
		return ""
	endif
	FReadLine ref, line
	Close ref
	return TrimString(RemoveEnding(RemoveEnding(line, "\n"), "\r"))
End

// ---- the background task: read lines, handle them, watch the scan ---------------------------------
static Function Task(s)
	STRUCT WMBackgroundStruct &s
	DFREF df = $kDF
	SVAR buffer = df:gBuffer
	NVAR scanning = df:gScanning

	VDTGetStatus2 0, 0, 0				// V_VDT = bytes waiting
	Variable n = V_VDT
	if (n > 0)
		Make/FREE/B/U/N=(n) bytes
		VDTReadBinaryWave2/B/TYPE=0x48/O=1 bytes	// raw bytes: never loses a partial line
		Variable i
		for (i = 0; i < n; i += 1)
			buffer += num2char(bytes[i], 1)
		endfor
	endif
	Variable nl = strsearch(buffer, "\n", 0)
	do
		if (nl < 0)
			break
		endif
		String line = RemoveEnding(buffer[0, nl - 1], "\r")
		buffer = buffer[nl + 1, inf]
		if (strlen(line) > kMaxRequestBytes)
			SendError(NaN, "protocol", "line longer than " + num2istr(kMaxRequestBytes) + " bytes (skipped)")
		elseif (strlen(TrimString(line)) > 0)	// blank lines are ignored
			HandleLine(line)
		endif
		nl = strsearch(buffer, "\n", 0)
	while (1)
	if (strlen(buffer) > kMaxRequestBytes)		// oversize line still arriving: skip what we have
		buffer = ""
		SendError(NaN, "protocol", "line longer than " + num2istr(kMaxRequestBytes) + " bytes (skipped)")
	endif
	if (scanning)
		ScanTick()
	endif
	return 0							// keep running
End

static Function HandleLine(line)
	String line
	NVAR authed = $(kDF + ":gAuthed")
	Variable json = JSON_Parse(line, ignoreErr = 1)
	if (numtype(json) != 0)
		SendError(NaN, "protocol", "request is not JSON")
		return 0
	endif
	Variable v = JSON_GetVariable(json, "/v", ignoreErr = 1)
	Variable id = JSON_GetVariable(json, "/id", ignoreErr = 1)
	String op = JSON_GetString(json, "/op", ignoreErr = 1)
	if (numtype(v) != 0)
		SendError(id, "protocol", "request has no protocol version `v`")
	elseif (v != kProtocol)
		SendError(id, "protocol", "protocol version " + num2istr(v) + " not supported (this bridge speaks 1)")
	elseif (numtype(id) != 0)
		SendError(NaN, "protocol", "request has no numeric `id`")
	elseif (cmpstr(op, "hello") == 0)
		Hello(json, id)
	elseif (WhichListItem(op, "scan;abort;status;") < 0)
		SendError(id, "protocol", "bad request: unknown op " + op)
	elseif (!authed)
		SendError(id, "unauthorized", "send hello with the bridge token first")
	elseif (cmpstr(op, "status") == 0)
		SendStatus(id)
	elseif (cmpstr(op, "abort") == 0)
		DoAbort(id)
	else
		StartScan(json, id)
	endif
	JSON_Release(json)
End

// ---- replies -------------------------------------------------------------------------------------
static Function NewReply(id, op)
	Variable id
	String op
	Variable r = JSON_New()
	JSON_AddVariable(r, "/v", kProtocol)
	if (numtype(id) == 0)
		JSON_AddVariable(r, "/id", id)
	else
		JSON_AddNull(r, "/id")
	endif
	JSON_AddString(r, "/op", op)
	return r
End

static Function SendJSON(r)
	Variable r
	String text = JSON_Dump(r)			// compact, one line
	JSON_Release(r)
	VDTWrite2/O=30/Q text + "\n"
End

static Function SendError(id, code, message)
	Variable id
	String code, message
	Variable r = NewReply(id, "error")
	JSON_AddString(r, "/code", code)
	JSON_AddString(r, "/message", message)
	SendJSON(r)
End

// ---- ops -----------------------------------------------------------------------------------------
static Function Hello(json, id)
	Variable json, id
	NVAR authed = $(kDF + ":gAuthed")
	SVAR token = $(kDF + ":gToken")
	String presented = JSON_GetString(json, "/token", ignoreErr = 1)	// "" when missing
	authed = (strlen(presented) > 0 && cmpstr(presented, token, 2) == 0)	// 2: case-sensitive
	if (!authed)
		print "AfmSparkBridge: hello refused: wrong or missing token"	// never print the token
		SendError(id, "unauthorized", "wrong or missing token")
		return 0
	endif
	Variable r = NewReply(id, "ok")
	JSON_AddTreeObject(r, "/result")
	JSON_AddString(r, "/result/bridge", "AfmSparkBridge.ipf 1")
	JSON_AddString(r, "/result/backend", "MFP-3D")
	JSON_AddVariable(r, "/result/heartbeat_interval_s", kHeartbeatS)
	JSON_AddVariable(r, "/result/max_request_line_bytes", kMaxRequestBytes)
	JSON_AddString(r, "/result/payload_format", "ibw")
	JSON_AddTreeObject(r, "/result/limits")
	JSON_AddVariable(r, "/result/limits/max_scan_size_m", kMaxScanSizeM)
	JSON_AddWave(r, "/result/limits/x_range_m", {kXMinM, kXMaxM})
	JSON_AddWave(r, "/result/limits/y_range_m", {kYMinM, kYMaxM})
	JSON_AddWave(r, "/result/limits/points_range", {kMinPoints, kMaxPoints})
	JSON_AddWave(r, "/result/limits/lines_range", {kMinLines, kMaxLines})
	JSON_AddWave(r, "/result/limits/line_rate_range_hz", {kMinRateHz, kMaxRateHz})
	JSON_AddNull(r, "/result/limits/max_tip_speed_m_per_s")
	JSON_AddWave(r, "/result/limits/channels", {"Height"})
	SendJSON(r)
End

static Function SendStatus(id)
	Variable id
	DFREF df = $kDF
	NVAR scanning = df:gScanning, lines = df:gLines
	Variable r = NewReply(id, "ok")
	JSON_AddTreeObject(r, "/result")
	JSON_AddString(r, "/result/backend", "MFP-3D")
	JSON_AddTreeObject(r, "/result/state")
	if (scanning)
		JSON_AddString(r, "/result/state/state", "scanning")
		JSON_AddVariable(r, "/result/state/line", EstimatedLine())
		JSON_AddVariable(r, "/result/state/lines", lines)
	else
		JSON_AddString(r, "/result/state/state", "idle")
	endif
	SendJSON(r)
End

static Function DoAbort(id)
	Variable id
	NVAR scanning = $(kDF + ":gScanning"), scanId = $(kDF + ":gScanId")
	Variable was = scanning
	if (was)
		DoScanFunc("StopScan_0")			// Asylum: stop now (and withdraw)
		scanning = 0
		SendError(scanId, "aborted", "scan aborted by request")
	endif
	Variable r = NewReply(id, "ok")
	JSON_AddTreeObject(r, "/result")
	JSON_AddBoolean(r, "/result/was_scanning", was)
	SendJSON(r)
End

// Checks the request against the limits above; "" when fine, else the out_of_range message.
static Function/S CheckRequest(cx, cy, w, h, ang, pts, lns, rate)
	Variable cx, cy, w, h, ang, pts, lns, rate
	if (w < 0 || h < 0 || w > kMaxScanSizeM || h > kMaxScanSizeM)
		return "scan size outside 0 … max_scan_size_m"
	elseif (pts < kMinPoints || pts > kMaxPoints || lns < kMinLines || lns > kMaxLines)
		return "points or lines outside the allowed range"
	elseif (rate < kMinRateHz || rate > kMaxRateHz)
		return "line rate outside the allowed range"
	endif
	Variable k, c = cos(ang * pi / 180), s = sin(ang * pi / 180)
	for (k = 0; k < 4; k += 1)		// every corner of the rotated region must be reachable
		Variable dx = (k == 1 || k == 2 ? 0.5 : -0.5) * w, dy = (k >= 2 ? 0.5 : -0.5) * h
		Variable x = cx + c * dx - s * dy, y = cy + s * dx + c * dy
		if (x < kXMinM || x > kXMaxM || y < kYMinM || y > kYMaxM)
			return "scan region corner outside the scanner range"
		endif
	endfor
	return ""
End

static Function StartScan(json, id)
	Variable json, id
	DFREF df = $kDF
	NVAR scanning = df:gScanning, scanId = df:gScanId, t0 = df:gT0, lastBeat = df:gLastBeat
	NVAR lastPoll = df:gLastPoll, lines = df:gLines, lastLine = df:gLastLine, suffix = df:gSuffix, doneAt = df:gDoneAt
	if (scanning)
		SendError(id, "busy", "a scan (request " + num2istr(scanId) + ") is already running")
		return 0
	elseif (GV("ScanStatus"))
		SendError(id, "busy", "the instrument is already scanning (started outside the bridge)")
		return 0
	endif
	Variable cx = JSON_GetVariable(json, "/region/center_x_m", ignoreErr = 1)
	Variable cy = JSON_GetVariable(json, "/region/center_y_m", ignoreErr = 1)
	Variable w = JSON_GetVariable(json, "/region/width_m", ignoreErr = 1)
	Variable h = JSON_GetVariable(json, "/region/height_m", ignoreErr = 1)
	Variable ang = JSON_GetVariable(json, "/region/angle_deg", ignoreErr = 1)
	Variable pts = JSON_GetVariable(json, "/raster/points", ignoreErr = 1)
	Variable lns = JSON_GetVariable(json, "/raster/lines", ignoreErr = 1)
	Variable rate = JSON_GetVariable(json, "/line_rate_hz", ignoreErr = 1)
	if (numtype(cx) || numtype(cy) || numtype(w) || numtype(h) || numtype(ang) || numtype(rate) || numtype(pts) || numtype(lns))
		SendError(id, "protocol", "bad request: missing or non-numeric scan fields")
		return 0
	endif
	String problem = CheckRequest(cx, cy, w, h, ang, pts, lns, rate)
	WAVE/T/Z channels = JSON_GetTextWave(json, "/channels", ignoreErr = 1)
	if (!WaveExists(channels) || numpnts(channels) == 0)
		problem = "channels: none requested (allowed: Height)"
	else
		Variable k
		for (k = 0; k < numpnts(channels); k += 1)
			if (cmpstr(channels[k], "Height", 2) != 0)	// the channels hello reports; Asylum saves what its panel has on
				problem = "channel " + channels[k] + " not available (allowed: Height)"
			endif
		endfor
	endif
	if (strlen(problem))
		SendError(id, "out_of_range", problem)
		return 0
	endif
	// Asylum's scan size is the longer side; the ratios shrink the other (ScanSize first, then ratios).
	Variable size = max(w, h)
	SetScanParm("ScanSize", size)
	SetScanParm("FastRatio", size > 0 ? w / size : 1)
	SetScanParm("SlowRatio", size > 0 ? h / size : 1)
	SetScanParm("ScanPoints", pts)
	SetScanParm("ScanLines", lns)
	SetScanParm("ScanRate", rate)
	SetScanParm("XOffset", cx)
	SetScanParm("YOffset", cy)
	SetScanParm("ScanAngle", ang)
	PV("SaveImage", 2)					// save each image (2 = on, as the Asylum panels store it)
	PV("LastScanWithdraw", 0)			// stay engaged after the frame
	suffix = GV("BaseSuffix")			// the frame will be saved under this suffix
	DoScanFunc("DoScan_0")
	PV("LastScan", 1)					// one frame only (what the "Last Scan" button sets, minus its dialog)
	scanning = 1
	scanId = id
	t0 = DateTime
	lastBeat = t0
	lastPoll = 0
	lines = lns
	lastLine = -1
	doneAt = 0
End

// Sets one scan parameter the way the Master Panel's SetVariable does, so dependent values follow.
static Function SetScanParm(name, value)
	String name
	Variable value
	MainSetVarFunc(name + "SetVar_0", value, "", ":Variables:MasterVariablesWave[%" + name + "]")
End

// Lines done, estimated from elapsed time × ScanRate (Asylum's own line counter is not public API).
static Function EstimatedLine()
	DFREF df = $kDF
	NVAR t0 = df:gT0, lines = df:gLines
	return min(lines, floor((DateTime - t0) * GV("ScanRate")))
End

// Called by the task while a frame scans: heartbeat, progress, rate-limited ScanStatus poll, finish.
static Function ScanTick()
	DFREF df = $kDF
	NVAR scanning = df:gScanning, scanId = df:gScanId, t0 = df:gT0, lastBeat = df:gLastBeat
	NVAR lastPoll = df:gLastPoll, status = df:gStatus, lines = df:gLines, lastLine = df:gLastLine, doneAt = df:gDoneAt
	Variable now = DateTime
	if (now - lastBeat >= kHeartbeatS)
		lastBeat = now
		Variable r = NewReply(scanId, "heartbeat")
		JSON_AddVariable(r, "/elapsed_s", now - t0)
		SendJSON(r)
		Variable line = EstimatedLine()
		if (lines > 0 && line != lastLine)
			lastLine = line
			r = NewReply(scanId, "progress")
			JSON_AddVariable(r, "/line", line)
			JSON_AddVariable(r, "/lines", lines)
			SendJSON(r)
		endif
	endif
	if (now - lastPoll < kPollS)
		return 0
	endif
	lastPoll = now
	status = GV("ScanStatus")
	if (status)
		return 0
	endif
	if (doneAt == 0)
		doneAt = now
	endif
	String path = SavedFramePath()
	GetFileFolderInfo/Q/Z path
	if (V_flag != 0 || !V_isFile)
		if (now - doneAt > kSaveWaitS)
			scanning = 0
			SendError(scanId, "data", "frame finished but " + path + " was not saved")
		endif
		return 0
	endif
	String bytes = ReadBytes(path)
	scanning = 0
	if (strlen(bytes) == 0)
		SendError(scanId, "data", "cannot read " + path)
		return 0
	endif
	r = NewReply(scanId, "ok")
	JSON_AddTreeObject(r, "/result")
	JSON_AddString(r, "/result/format", "ibw")
	JSON_AddString(r, "/result/payload_b64", Base64Encode(bytes))
	SendJSON(r)
End

static Function/S SavedFramePath()
	NVAR suffix = $(kDF + ":gSuffix")
	SVAR baseName = root:Packages:MFP3D:Main:Variables:BaseName
	String folder = GS("SaveImage")		// the save folder, as an Igor path "C:Users:...:"
	String file
	sprintf file, "%s%s%04d.ibw", folder, baseName, suffix
	return file
End

static Function/S ReadBytes(path)
	String path
	Variable ref
	Open/R/Z ref as path
	if (V_flag)
		return ""
	endif
	FStatus ref
	String bytes = PadString("", V_logEOF, 0)
	FBinRead ref, bytes
	Close ref
	return bytes
End
