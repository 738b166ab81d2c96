#pragma TextEncoding="UTF-8"
#pragma rtGlobals=3		// strict wave references
#pragma IgorVersion=8.0	// Hash, StopMSTimer(-2), num2str with a format, ZeroMQ-XOP for Igor 8+
#pragma version=1
#pragma ModuleName=AfmSparkXop

// AfmSparkXop.ipf — afm-spark's procedures inside Igor Pro, called through ZeroMQ-XOP
// (AllenInstitute/ZeroMQ-XOP, BSD-3). Protocol: drivers/src/mfp3d/PROTOCOL.md. The Rust twin that tests
// run against is afm_drivers::mfp3d::FakeXop (`afm-spark serve-sim`); both must behave the same.
//
// WHAT IT DOES
//   Six small ProcGlobal functions the XOP can call (non-static, String/Variable parameters only). Each
//   returns within milliseconds; none waits for a scan — the XOP runs calls one at a time on Igor's main
//   thread, so a slow call would block every other call:
//     Spark_Hello(token)                 -> session key, protocol version, safe limits, channels, versions
//     Spark_StartFrame(session, job, cx, cy, width, height, angle, points, lines, rate, channels, directions)
//     Spark_Status(session, job)         -> state (scanning/saving/done/aborted/failed), line, saved file
//     Spark_Abort(session)               -> stops the frame (DoScanFunc("StopScan"))
//     Spark_Ping(session, seq)           -> feeds the watchdog of the caller's frame
//     Spark_GetChannel(session, job, label) -> the saved layer as a wave, with its scaling and note
//   Numbers arrive as strings (the XOP would round a number parameter to 15 digits) and are read with
//   str2num. A background task (4 Hz) watches the frame: it polls AR at most 4 times a second (frequent
//   polling is the suspected cause of the AR crashes afspm's authors report), loads the saved frame,
//   publishes its layers on PUB when the XOP can (zeromq_pub_send_multi), and stops the frame when no
//   ping has arrived for kWatchdogS seconds (client lost), recording why.
//
// SECURITY (read this)
//   ZeroMQ-XOP has NO authentication: whoever reaches its port can call ANY ProcGlobal function in this
//   experiment, not only these. So Start() binds to 127.0.0.1 only. A controller on another computer
//   comes in through an SSH tunnel, e.g. from the controller:
//       ssh -N -L 5670:127.0.0.1:5670 -L 5671:127.0.0.1:5671 user@igor-pc
//   and then uses tcp://127.0.0.1:5670 as if it were local. The token (first line of a file, never
//   printed) guards only the functions below: Spark_Hello hands out a session key, and every other
//   Spark_ function refuses a caller without the current key. It does not protect anything else.
//
// START / STOP (Igor command line, after the Asylum software is up and the tip engaged; static, so the
// XOP cannot call them):
//   AfmSparkXop#Start("C:path:to:token.txt", "C:path:to:AR:save:folder:")
//   AfmSparkXop#Stop()
//
// CALLS USED, AND WHAT WE COULD NOT CHECK (we could not run Igor or AR)
//   ZeroMQ-XOP (documented in its interface.h/Readme): zeromq_server_bind, zeromq_handler_start,
//   zeromq_handler_stop, zeromq_pub_bind, zeromq_pub_send_multi (builds from 2025-02 on), zeromq_stop.
//   Asylum (only those cited in shared/DESIGN.md §5): PV/GV of ScanSize, FastRatio, SlowRatio, ScanPoints,
//   ScanLines, ScanRate, XOffset, YOffset, ScanAngle; PV("LastScan", 2); PV("SaveImage", 2);
//   DoScanFunc("DoScan"), DoScanFunc("StopScan"); ARGetStatus() & 0x1 as "a frame is running".
//   Lines marked UNVERIFIED below depend on behaviour we could not check on an instrument.

// ---- settings ----------------------------------------------------------------------------------
static Constant kSparkProtocol = 1
static StrConstant kServe = "tcp://127.0.0.1:5670"	// loopback only: see SECURITY
static StrConstant kPub = "tcp://127.0.0.1:5671"
static StrConstant kPubTopic = "afm-spark/frame"
static Constant kWatchdogS = 5			// a frame without a ping for this long is stopped, s
static Constant kPollS = 0.25			// AR is polled at most this often (4 Hz), s
static Constant kTaskTicks = 15			// background task period, ticks (1/60 s) -> 0.25 s
static Constant kSaveWaitS = 30			// after the frame ends, wait this long for the saved file, s
static Constant kStartGraceS = 3		// ARGetStatus may lag DoScan: "not running" counts only after this, s
static StrConstant kDF = "root:Packages:AfmSparkXop"

// Safe limits reported by Spark_Hello and checked before anything moves. SET THESE FOR YOUR SCANNER.
static Constant kMaxScanSizeM = 90e-6
static Constant kXMinM = -45e-6, kXMaxM = 45e-6, kYMinM = -45e-6, kYMaxM = 45e-6
static Constant kMinPoints = 16, kMaxPoints = 4096, kMinLines = 16, kMaxLines = 4096
static Constant kMinRateHz = 0.05, kMaxRateHz = 20
static StrConstant kChannels = "Height;Amplitude;Phase;"	// channels the AR channel panel records

// ---- start / stop --------------------------------------------------------------------------------
static Function Start(tokenPath, savePath)
	String tokenPath, savePath

	NewDataFolder/O root:Packages
	NewDataFolder/O $kDF
	DFREF df = $kDF
	String/G df:gToken = ReadTokenFile(tokenPath), df:gSession = "", df:gJob = "", df:gOwner = ""
	String/G df:gState = "", df:gMessage = "", df:gFile = "", df:gLabels = "", df:gPubAddress = ""
	Variable/G df:gT0 = 0, df:gLastPing = 0, df:gLastPoll = 0, df:gSeenRunning = 0, df:gLines = 0
	Variable/G df:gRate = 0, df:gElapsed = 0, df:gEnded = 0, df:gPubSeq = 0
	SVAR token = df:gToken
	if (strlen(token) == 0)
		Abort "AfmSparkXop: the token file is empty or unreadable"
	endif
	NewPath/O/Q AfmSparkImages, savePath	// UNVERIFIED: AR saves each frame as one .ibw in this folder
	zeromq_server_bind(kServe)
	zeromq_handler_start()
	SVAR pubAddress = df:gPubAddress
	if (exists("zeromq_pub_send_multi") == 3)	// UNVERIFIED: exists() returns 3 for an XOP function
		zeromq_pub_bind(kPub)
		pubAddress = kPub
	endif
	CtrlNamedBackground AfmSparkXop, period=kTaskTicks, proc=AfmSparkXop#Task, start
	printf "AfmSparkXop: serving protocol v%d on %s (loopback only), PUB %s\r", kSparkProtocol, kServe, SelectString(strlen(pubAddress), "off", pubAddress)
End

static Function Stop()
	CtrlNamedBackground AfmSparkXop, stop
	zeromq_handler_stop()
	zeromq_stop()
	print "AfmSparkXop: stopped"
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

// ---- small helpers -------------------------------------------------------------------------------
static Function Now()
	return StopMSTimer(-2) * 1e-6		// seconds, microsecond resolution
End

static Function/S Num(v)				// full precision for JSON (17 significant digits)
	Variable v
	if (numtype(v) != 0)
		return "null"
	endif
	String s
	sprintf s, "%.17g", v
	return s
End

static Function/S Str(s)				// a JSON string literal
	String s
	s = ReplaceString("\\", s, "\\\\")
	s = ReplaceString("\"", s, "\\\"")
	s = ReplaceString("\r", s, "\\r")
	s = ReplaceString("\n", s, "\\n")
	s = ReplaceString("\t", s, "\\t")
	return "\"" + s + "\""
End

static Function/S Fail(code, message)
	String code, message
	return "{\"ok\":false,\"error\":" + Str(code) + ",\"message\":" + Str(message) + "}"
End

static Function SessionOK(session)
	String session
	SVAR current = $(kDF + ":gSession")
	return strlen(session) > 0 && cmpstr(session, current, 2) == 0	// 2: case-sensitive
End

static Function Running()
	SVAR state = $(kDF + ":gState")
	return cmpstr(state, "scanning") == 0 || cmpstr(state, "saving") == 0
End

static Function/S ListToJSON(list)
	String list
	String out = "["
	Variable i, n = ItemsInList(list)
	for (i = 0; i < n; i += 1)
		out += SelectString(i, "", ",") + Str(StringFromList(i, list))
	endfor
	return out + "]"
End

// Status document of the current job.
static Function/S StatusJSON()
	DFREF df = $kDF
	SVAR job = df:gJob, state = df:gState, message = df:gMessage, file = df:gFile, labels = df:gLabels
	NVAR t0 = df:gT0, lines = df:gLines, rate = df:gRate, elapsed = df:gElapsed
	Variable line = lines, el = elapsed
	if (cmpstr(state, "scanning") == 0)
		el = Now() - t0
		line = min(lines, floor(el * rate))	// AR's line counter is not among the calls we may use
	endif
	String done = SelectString(cmpstr(state, "done") == 0, "", "x")
	String s = "{\"ok\":true,\"job\":" + Str(job) + ",\"state\":" + Str(SelectString(strlen(job), "idle", state))
	s += ",\"line\":" + Num(line) + ",\"lines\":" + Num(lines) + ",\"elapsed_s\":" + Num(el)
	s += ",\"path\":" + Str(SelectString(strlen(done), "", file))
	s += ",\"channels\":" + ListToJSON(SelectString(strlen(done), "", labels))
	return s + ",\"message\":" + Str(message) + "}"
End

// ---- the functions the XOP calls ----------------------------------------------------------------
Function/S Spark_Hello(token)
	String token
	DFREF df = $kDF
	SVAR/Z secret = df:gToken
	if (!SVAR_Exists(secret) || strlen(token) == 0 || cmpstr(token, secret, 2) != 0)
		print "AfmSparkXop: Spark_Hello refused: wrong or missing token"	// never print the token
		return Fail("unauthorized", "wrong or missing token")
	endif
	SVAR session = df:gSession, pubAddress = df:gPubAddress
	session = Hash(token + num2str(Now(), "%.17g") + num2str(enoise(1), "%.17g"), 1)	// SHA-256, hex
	String limits = "{\"max_scan_size_m\":" + Num(kMaxScanSizeM)
	limits += ",\"x_range_m\":[" + Num(kXMinM) + "," + Num(kXMaxM) + "],\"y_range_m\":[" + Num(kYMinM) + "," + Num(kYMaxM) + "]"
	limits += ",\"points_range\":[" + Num(kMinPoints) + "," + Num(kMaxPoints) + "],\"lines_range\":[" + Num(kMinLines) + "," + Num(kMaxLines) + "]"
	limits += ",\"line_rate_range_hz\":[" + Num(kMinRateHz) + "," + Num(kMaxRateHz) + "],\"max_tip_speed_m_per_s\":null"
	limits += ",\"channels\":" + ListToJSON(kChannels) + "}"
	String backend = "Igor Pro " + StringByKey("IGORVERS", IgorInfo(0)) + " / Asylum Research"
	String s = "{\"ok\":true,\"spark\":" + Num(kSparkProtocol) + ",\"session\":" + Str(session)
	s += ",\"backend\":" + Str(backend) + ",\"limits\":" + limits + ",\"watchdog_s\":" + Num(kWatchdogS)
	s += ",\"poll_hz\":" + Num(1 / kPollS) + ",\"pub_address\":" + Str(pubAddress) + "}"
	print "AfmSparkXop: Spark_Hello: new session (a previous one is replaced)"
	return s
End

// "" when the request is within the safe limits, else why not.
static Function/S CheckRequest(cx, cy, w, h, ang, pts, lns, rate, channels)
	Variable cx, cy, w, h, ang, pts, lns, rate
	String channels
	if (numtype(cx) || numtype(cy) || numtype(w) || numtype(h) || numtype(ang) || numtype(pts) || numtype(lns) || numtype(rate))
		return "a number could not be read"
	elseif (w < 0 || h < 0 || w > kMaxScanSizeM || h > kMaxScanSizeM)
		return "scan size outside 0 … max_scan_size_m"
	elseif (pts < kMinPoints || pts > kMaxPoints || lns < kMinLines || lns > kMaxLines || pts != round(pts) || lns != round(lns))
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
	if (ItemsInList(channels) == 0)
		return "no channel requested"
	endif
	for (k = 0; k < ItemsInList(channels); k += 1)
		if (WhichListItem(StringFromList(k, channels), kChannels) < 0)
			return "channel " + StringFromList(k, channels) + " not recorded (recorded: " + kChannels + ")"
		endif
	endfor
	return ""
End

Function/S Spark_StartFrame(session, job, cxS, cyS, wS, hS, angS, ptsS, lnsS, rateS, channels, directions)
	String session, job, cxS, cyS, wS, hS, angS, ptsS, lnsS, rateS, channels, directions
	DFREF df = $kDF
	if (!SessionOK(session))
		return Fail("unauthorized", "unknown or replaced session: say Spark_Hello again")
	endif
	SVAR curJob = df:gJob, owner = df:gOwner, state = df:gState, message = df:gMessage, file = df:gFile, labels = df:gLabels
	NVAR t0 = df:gT0, lastPing = df:gLastPing, lastPoll = df:gLastPoll, seen = df:gSeenRunning
	NVAR nLines = df:gLines, nRate = df:gRate, elapsed = df:gElapsed, ended = df:gEnded
	if (Running())
		return Fail("busy", "job " + curJob + " is still running")
	elseif (strlen(job) == 0 || cmpstr(job, curJob, 2) == 0)
		return Fail("bad_params", "job id is empty or already used")
	elseif (WhichListItem(directions, "trace;retrace;both;") < 0)
		return Fail("bad_params", "directions must be trace, retrace or both")
	endif
	Variable cx = str2num(cxS), cy = str2num(cyS), w = str2num(wS), h = str2num(hS), ang = str2num(angS)
	Variable pts = str2num(ptsS), lns = str2num(lnsS), rate = str2num(rateS)
	String problem = CheckRequest(cx, cy, w, h, ang, pts, lns, rate, channels)
	if (strlen(problem))
		return Fail("out_of_range", problem)
	endif
	if (ARGetStatus() & 0x1)		// per DESIGN §5: bit 0 = a frame is running (UNVERIFIED on hardware)
		return Fail("busy", "the instrument is scanning (started outside afm-spark)")
	endif
	// Asylum's scan size is the longer side; the ratios shrink the other.
	Variable size = max(w, h)
	PV("ScanSize", size)
	PV("FastRatio", size > 0 ? w / size : 1)
	PV("SlowRatio", size > 0 ? h / size : 1)
	PV("ScanPoints", pts)
	PV("ScanLines", lns)
	PV("ScanRate", rate)
	PV("XOffset", cx)
	PV("YOffset", cy)
	PV("ScanAngle", ang)
	PV("LastScan", 2)		// one frame (DESIGN §5)
	PV("SaveImage", 2)		// save the frame (DESIGN §5)
	// Labels this job serves: Asylum's channel name + Trace/Retrace.
	labels = ""
	Variable k
	for (k = 0; k < ItemsInList(channels); k += 1)
		String ch = StringFromList(k, channels)
		labels += SelectString(cmpstr(directions, "retrace") == 0, ch + "Trace;", "")
		labels += SelectString(cmpstr(directions, "trace") == 0, ch + "Retrace;", "")
	endfor
	curJob = job
	owner = session
	state = "scanning"
	message = ""
	file = ""
	t0 = Now()
	lastPing = t0
	lastPoll = 0
	seen = 0
	nLines = lns
	nRate = GV("ScanRate")	// what AR accepted
	elapsed = 0
	ended = 0
	DoScanFunc("DoScan")
	printf "AfmSparkXop: job %s started: %d x %d px, %g x %g m at (%g, %g) m, %g Hz\r", job, pts, lns, w, h, cx, cy, rate
	return StatusJSON()
End

Function/S Spark_Status(session, job)
	String session, job
	if (!SessionOK(session))
		return Fail("unauthorized", "unknown or replaced session: say Spark_Hello again")
	endif
	SVAR curJob = $(kDF + ":gJob")
	if (strlen(job) && cmpstr(job, curJob, 2) != 0)
		return Fail("unknown_job", "no job " + job + " (only the last job is kept)")
	endif
	return StatusJSON()
End

Function/S Spark_Abort(session)
	String session
	if (!SessionOK(session))
		return Fail("unauthorized", "unknown or replaced session: say Spark_Hello again")
	endif
	SVAR job = $(kDF + ":gJob")
	Variable was = Running()
	if (was)
		StopFrame("aborted by Spark_Abort")
	endif
	return "{\"ok\":true,\"was_scanning\":" + SelectString(was, "false", "true") + ",\"job\":" + Str(SelectString(was, "", job)) + "}"
End

Function/S Spark_Ping(session, seq)
	String session
	Variable seq
	if (!SessionOK(session))
		return Fail("unauthorized", "unknown or replaced session: say Spark_Hello again")
	endif
	SVAR owner = $(kDF + ":gOwner")
	NVAR lastPing = $(kDF + ":gLastPing")
	Variable fed = Running() && cmpstr(owner, session, 2) == 0
	if (fed)
		lastPing = Now()
	endif
	return "{\"ok\":true,\"seq\":" + Num(seq) + ",\"fed\":" + SelectString(fed, "false", "true") + "}"
End

// The saved layer `label` (e.g. HeightTrace) of `job` as a free 2-D wave with the image's scaling and
// note, or an invalid wave reference (the XOP sends null) when not available.
Function/WAVE Spark_GetChannel(session, job, label)
	String session, job, label
	SVAR curJob = $(kDF + ":gJob"), state = $(kDF + ":gState")
	if (!SessionOK(session) || cmpstr(job, curJob, 2) != 0 || cmpstr(state, "done") != 0)
		return $""
	endif
	WAVE/Z img = $(kDF + ":frame")
	if (!WaveExists(img))
		return $""
	endif
	Variable layer = FindDimLabel(img, 2, label)	// Asylum labels the layers of a saved image
	if (layer < 0)
		return $""
	endif
	Duplicate/FREE/RMD=[][][layer, layer] img, out	// keeps scaling, units and note
	Redimension/N=(-1, -1) out
	return out
End

// ---- the background task -------------------------------------------------------------------------
static Function StopFrame(why)
	String why
	DFREF df = $kDF
	SVAR state = df:gState, message = df:gMessage, job = df:gJob
	NVAR t0 = df:gT0, elapsed = df:gElapsed
	DoScanFunc("StopScan")
	state = "aborted"
	message = why
	elapsed = Now() - t0
	printf "AfmSparkXop: job %s stopped: %s\r", job, why
End

static Function Task(s)
	STRUCT WMBackgroundStruct &s
	DFREF df = $kDF
	SVAR state = df:gState
	NVAR t0 = df:gT0, lastPing = df:gLastPing, lastPoll = df:gLastPoll, seen = df:gSeenRunning, ended = df:gEnded
	Variable now = Now()
	if (cmpstr(state, "scanning") == 0)
		if (now - lastPing > kWatchdogS)
			String why
			sprintf why, "watchdog: no ping for %.1f s (client lost); frame stopped", now - lastPing
			StopFrame(why)
			return 0
		endif
		if (now - lastPoll < kPollS)
			return 0
		endif
		lastPoll = now
		if (ARGetStatus() & 0x1)
			seen = 1
		elseif (seen || now - t0 > kStartGraceS)
			state = "saving"
			ended = now
		endif
	elseif (cmpstr(state, "saving") == 0)
		if (now - lastPoll >= kPollS)
			lastPoll = now
			TryLoadSavedFrame(now)
		endif
	endif
	return 0
End

// Looks for the .ibw AR saved after the frame began; loads it, marks the job done and publishes it.
static Function TryLoadSavedFrame(now)
	Variable now
	DFREF df = $kDF
	SVAR state = df:gState, message = df:gMessage, file = df:gFile, labels = df:gLabels, job = df:gJob
	NVAR t0 = df:gT0, ended = df:gEnded, elapsed = df:gElapsed
	// UNVERIFIED: the newest .ibw in the save folder, modified after the job started, is this frame.
	String files = IndexedFile(AfmSparkImages, -1, ".ibw"), newest = ""
	Variable i, newestT = -inf, startedAt = DateTime - (now - t0)
	for (i = 0; i < ItemsInList(files); i += 1)
		String f = StringFromList(i, files)
		GetFileFolderInfo/P=AfmSparkImages/Q/Z f
		if (V_flag == 0 && V_isFile && V_modificationDate >= startedAt - 1 && V_modificationDate > newestT)
			newestT = V_modificationDate
			newest = f
		endif
	endfor
	if (strlen(newest) == 0)
		if (now - ended > kSaveWaitS)
			state = "failed"
			message = "the frame ended but no new .ibw appeared in the save folder within " + num2str(kSaveWaitS) + " s"
		endif
		return 0
	endif
	DFREF saveDF = GetDataFolderDFR()
	SetDataFolder df
	KillWaves/Z frame
	LoadWave/Q/H/O/P=AfmSparkImages newest	// an Igor binary wave keeps its scaling, note and labels
	Variable loaded = V_flag
	String name = StringFromList(0, S_waveNames)
	SetDataFolder saveDF
	if (!loaded)
		state = "failed"
		message = "cannot load " + newest
		return 0
	endif
	Rename df:$name, frame
	file = newest
	elapsed = ended - t0
	state = "done"
	printf "AfmSparkXop: job %s saved as %s\r", job, newest
	PublishLayers()
End

// Raw float32 layers on PUB: [topic][metadata JSON][bytes] per requested label (zeromq_pub_send_multi).
static Function PublishLayers()
	DFREF df = $kDF
	SVAR pubAddress = df:gPubAddress, labels = df:gLabels, job = df:gJob
	NVAR seq = df:gPubSeq
	if (strlen(pubAddress) == 0)
		return 0
	endif
	WAVE img = df:frame
	Variable i
	for (i = 0; i < ItemsInList(labels); i += 1)
		String label = StringFromList(i, labels)
		Variable layer = FindDimLabel(img, 2, label)
		if (layer < 0)
			continue
		endif
		Duplicate/FREE/RMD=[][][layer, layer] img, one
		Redimension/N=(-1, -1)/S one		// 2-D, float32
		seq += 1
		String meta = "{\"job\":" + Str(job) + ",\"channel\":" + Str(label) + ",\"seq\":" + Num(seq)
		meta += ",\"wave\":{\"type\":\"NT_FP32\",\"dimension\":{\"size\":[" + Num(DimSize(one, 0)) + "," + Num(DimSize(one, 1)) + "]"
		meta += ",\"delta\":[" + Num(DimDelta(one, 0)) + "," + Num(DimDelta(one, 1)) + "]"
		meta += ",\"offset\":[" + Num(DimOffset(one, 0)) + "," + Num(DimOffset(one, 1)) + "]"
		meta += ",\"unit\":[" + Str(WaveUnits(one, 0)) + "," + Str(WaveUnits(one, 1)) + "]}"
		meta += ",\"data_unit\":" + Str(WaveUnits(one, -1)) + ",\"note\":" + Str(note(one)) + "}}"
		Make/FREE/T topicW = {kPubTopic}, metaW = {meta}
		Make/FREE/WAVE parts = {topicW, metaW, one}
		zeromq_pub_send_multi(parts)
	endfor
End
