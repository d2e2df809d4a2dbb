#!/usr/bin/python3
"""Writes the artifact-scanner fixtures in this folder.

Nothing here is ever unpickled or loaded. Malicious pickles are either written by Python's pickler from
objects whose __reduce__/__reduce_ex__ name a dangerous callable (pickling only records the name; the
callable is not called) or assembled by hand, opcode by opcode, where the pickler would not produce them.
Benign artifacts come from numpy, scikit-learn, joblib and torch (Debian bookworm: python3-numpy 1.24,
python3-sklearn 1.2, python3-joblib 1.2, python3-torch 1.13, python3-h5py 3.7).

    /usr/bin/python3 make_fixtures.py
"""
import base64
import io
import json
import marshal
import os
import pickle
import pickletools
import struct
import subprocess
import zipfile
import zlib

import h5py
import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))


def zwrite(z, name, data, compress=zipfile.ZIP_STORED):
    """Adds an entry with a fixed date so the fixtures are the same on every run."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compress
    z.writestr(info, data)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


class OsSystem:
    """Pickles as os.system('echo pwned') (posix.system on Linux)."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


class PopenEx:
    """Pickles as subprocess.Popen(['id']) through __reduce_ex__."""

    def __reduce_ex__(self, protocol):
        return (subprocess.Popen, (["id"],))


def u(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def su(s):  # SHORT_BINUNICODE (protocol 4)
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def glob(module, name):  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


PROTO2, PROTO4 = b"\x80\x02", b"\x80\x04"
REDUCE, BUILD, STOP, TUPLE1, TUPLE2 = b"R", b"b", b".", b"\x85", b"\x86"

# Malicious: os.system through REDUCE, written by the pickler in every protocol (GLOBAL up to 3, STACK_GLOBAL from 4).
for p in range(6):
    write(f"mal_proto{p}_os_system.pkl", pickle.dumps(OsSystem(), protocol=p))

write("mal_reduce_ex_subprocess_popen.pkl", pickle.dumps(PopenEx(), protocol=4))

# STACK_GLOBAL whose module and name come from the memo.
write("mal_stack_global_memo.pkl",
      PROTO4 + su("os") + b"\x94" + b"0" + su("system") + b"\x94" + b"0"
      + b"h\x00" + b"h\x01" + b"\x93" + su("echo pwned") + TUPLE1 + REDUCE + STOP)

# INST (protocol 0) and OBJ (protocol 1).
write("mal_inst_os_system.pkl", b"(S'echo pwned'\nios\nsystem\n.")
write("mal_obj_os_system.pkl", b"(cos\nsystem\nS'echo pwned'\no.")

# NEWOBJ of subprocess.Popen.
write("mal_newobj_subprocess_popen.pkl", PROTO2 + glob("subprocess", "Popen") + b"]" + u("id") + b"a" + TUPLE1 + b"\x81" + STOP)

# BUILD installs os.system as __setstate__ of an OrderedDict, a second BUILD would call it.
write("mal_build_setstate.pkl",
      PROTO2 + glob("collections", "OrderedDict") + b")" + b"\x81"
      + b"}" + u("__setstate__") + glob("os", "system") + b"s" + BUILD
      + u("echo pwned") + BUILD + STOP)

# copyreg._reconstructor given a class that is not allowed.
write("mal_copyreg_reconstructor.pkl", b"ccopy_reg\n_reconstructor\n(csubprocess\nPopen\nc__builtin__\nobject\nNtR.")

# Evasions.
# getattr(__import__('os'), 'system')('id')
write("mal_evasion_getattr_chain.pkl",
      PROTO2 + glob("builtins", "getattr") + glob("builtins", "__import__") + u("os") + TUPLE1 + REDUCE
      + u("system") + TUPLE2 + REDUCE + u("id") + TUPLE1 + REDUCE + STOP)
# attrgetter('system')(importlib.import_module('os'))('id')
write("mal_evasion_attrgetter.pkl",
      PROTO2 + glob("operator", "attrgetter") + u("system") + TUPLE1 + REDUCE
      + glob("importlib", "import_module") + u("os") + TUPLE1 + REDUCE + TUPLE1 + REDUCE
      + u("id") + TUPLE1 + REDUCE + STOP)
# importlib.import_module('subprocess') kept in a dict: nothing else, the import alone is denied.
write("mal_evasion_importlib.pkl",
      PROTO2 + b"}" + u("m") + glob("importlib", "import_module") + u("subprocess") + TUPLE1 + REDUCE + b"s" + STOP)
# A dotted name (walked attribute by attribute from protocol 4) reaching os.system through an allowed module.
write("mal_evasion_dotted_name.pkl",
      PROTO4 + su("sklearn") + su("utils.os.system") + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP)
# _pickle.loads of embedded bytes holding os.system.
inner = pickle.dumps(OsSystem(), protocol=2)
write("mal_evasion_nested_pickle_loads.pkl",
      b"\x80\x03" + glob("_pickle", "loads") + b"B" + struct.pack("<I", len(inner)) + inner + TUPLE1 + REDUCE + STOP)

# Benign numpy arrays in several protocols.
arr = np.arange(12, dtype=np.float64).reshape(3, 4)
for p in (0, 2, 4, 5):
    write(f"ok_numpy_array_proto{p}.pkl", pickle.dumps(arr, protocol=p))

# Truncated: the protocol-4 array cut in half.
whole = pickle.dumps(arr, protocol=4)
write("mal_truncated.pkl", whole[: len(whole) // 2])

# scikit-learn estimators.
rng = np.random.RandomState(0)
X = rng.normal(size=(40, 3))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
logreg = LogisticRegression().fit(X, y)
pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
write("ok_sklearn_logreg.pkl", pickle.dumps(logreg, protocol=4))
write("ok_sklearn_pipeline.pkl", pickle.dumps(pipe, protocol=5))

# joblib: arrays written inline after their NumpyArrayWrapper (including an object array, a pickle of its own).
joblib.dump(pipe, os.path.join(HERE, "ok_sklearn_pipeline.joblib"))
joblib.dump({"f": np.arange(10, dtype=np.int64), "b": np.zeros((2, 3), dtype=bool),
             "o": np.array(["x", 1], dtype=object), "s": np.array(["ab", "c"])},
            os.path.join(HERE, "ok_numpy_mixed.joblib"))
joblib.dump({"model": OsSystem(), "w": np.arange(4.0)}, os.path.join(HERE, "mal_os_system.joblib"))

# torch: a state_dict, and the same zip with data.pkl replaced.
torch.manual_seed(0)
buf = io.BytesIO()
torch.save(torch.nn.Linear(3, 2).state_dict(), buf)
write("ok_torch_state_dict.pt", buf.getvalue())
pbuf = io.BytesIO()
torch.save({"weight": torch.nn.Parameter(torch.ones(2, 2)), "step": 3}, pbuf)
write("ok_torch_parameter.pt", pbuf.getvalue())
out = io.BytesIO()
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("/data.pkl"):
            data = pickle.dumps(OsSystem(), protocol=2)
        zwrite(dst, info.filename, data)
write("mal_torch_data_pkl.pt", out.getvalue())

# Keras 3 .keras zips (config.json, metadata.json, model.weights.h5), with and without a Lambda layer.
lambda_code = base64.b64encode(marshal.dumps(compile("lambda x: x", "<lambda>", "eval"))).decode()


def layer(cls, name, **cfg):
    return {"module": "keras.layers", "class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32", **cfg},
            "registered_name": None}


def sequential(layers):
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "dtype": "float32", "layers": layers}}


input_layer = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"}}
dense = layer("Dense", "dense", units=2, activation="linear", use_bias=True)
lam = layer("Lambda", "evil_lambda", function={"class_name": "__lambda__", "config": {"code": lambda_code, "defaults": None, "closure": None}},
            output_shape=None, arguments={})
custom = {"module": "attacker_pkg.layers", "class_name": "Backdoor", "registered_name": "attacker_pkg>Backdoor",
          "config": {"name": "backdoor", "trainable": True, "dtype": "float32"}}
metadata = json.dumps({"keras_version": "3.3.3", "date_saved": "2026-01-01@00:00:00"})


def weights_h5():
    b = io.BytesIO()
    with h5py.File(b, "w") as f:
        f.create_group("layers")
        f.create_dataset("layers/dense/vars/0", data=np.zeros((4, 2), dtype=np.float32))
    return b.getvalue()


def keras_zip(name, config):
    with zipfile.ZipFile(os.path.join(HERE, name), "w", zipfile.ZIP_DEFLATED) as z:
        zwrite(z, "metadata.json", metadata, zipfile.ZIP_DEFLATED)
        zwrite(z, "config.json", json.dumps(config), zipfile.ZIP_DEFLATED)
        zwrite(z, "model.weights.h5", weights_h5(), zipfile.ZIP_DEFLATED)


keras_zip("ok_keras_dense.keras", sequential([input_layer, dense]))
keras_zip("mal_keras_lambda.keras", sequential([input_layer, lam, dense]))
keras_zip("mal_keras_custom_object.keras", sequential([input_layer, custom, dense]))


# Keras 2 HDF5 (.h5): model_config is a root attribute holding the JSON, as bytes, as Keras 2 writes it.
def keras_h5(name, layers):
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    with h5py.File(os.path.join(HERE, name), "w") as f:
        f.attrs["keras_version"] = b"2.11.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"dense"])


k2_input = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "input_1"}}
k2_dense = {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "linear"}}
k2_lambda = {"class_name": "Lambda", "config": {"name": "evil_lambda", "function": [lambda_code, None, None],
                                                "function_type": "lambda", "output_shape": None, "arguments": {}}}
keras_h5("ok_keras_dense.h5", [k2_input, k2_dense])
keras_h5("mal_keras_lambda.h5", [k2_input, k2_lambda, k2_dense])

# The same Lambda with model_config as a variable-length UTF-8 string (what h5py writes for a str).
with h5py.File(os.path.join(HERE, "mal_keras_lambda_vlen.h5"), "w") as f:
    f.attrs["keras_version"] = "2.11.0"
    f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"name": "model", "layers": [k2_input, k2_lambda]}})

# Keras 2 HDF5 custom layers other than Lambda. Keras before 2.13 writes no module: a class name that is not one of Keras's
# layers needs code registered under that name (custom_objects); here one at the top level and one as an RNN's cell.
k2_custom = {"class_name": "Backdoor", "config": {"name": "backdoor", "trainable": True}}
k2_rnn = {"class_name": "RNN", "config": {"name": "rnn", "cell": {"class_name": "MinimalCell", "config": {"name": "cell", "units": 2}}}}
keras_h5("mal_keras_custom_layer.h5", [k2_input, k2_custom, k2_rnn, k2_dense])
# Keras 2.13+ writes module and registered_name: a layer from another package, and a Keras class name registered by a package.
k213_custom = {"module": "attacker_pkg.layers", "class_name": "Backdoor", "config": {"name": "backdoor"}, "registered_name": "attacker_pkg>Backdoor"}
k213_registered = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "shadow_dense", "units": 2},
                   "registered_name": "Custom>Dense"}
keras_h5("mal_keras_registered_layer.h5", [k2_input, k213_custom, k213_registered])

# Compressed joblib files: zlib (joblib's default codec) and gzip are read; bz2, lzma, xz and lz4 are recognised, not read.
pipe_small = {"w": np.arange(6, dtype=np.float64), "names": np.array(["a", "b"], dtype=object)}
joblib.dump(pipe_small, os.path.join(HERE, "ok_numpy_zlib.joblib"), compress=("zlib", 3))
joblib.dump(pipe, os.path.join(HERE, "ok_sklearn_pipeline_gzip.joblib"), compress=("gzip", 3))
for codec in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
    joblib.dump({"model": OsSystem(), "w": np.arange(4.0)}, os.path.join(HERE, f"mal_os_system_{codec}.joblib"), compress=(codec, 3))
# joblib before 0.10: "ZF", the length in hex left-justified in 19 characters, then a zlib stream of the pickle.
old = pickle.dumps({"model": OsSystem()}, protocol=2)
write("mal_os_system_zfile.joblib", b"ZF" + hex(len(old)).ljust(19).encode() + zlib.compress(old, 3))

# Legacy PyTorch (before zips): magic number, protocol version, system information, the object, the storage keys, then
# each storage's bytes. The malicious one has os.system as its object pickle (and no storages), which torch.load unpickles.
lbuf = io.BytesIO()
torch.save(torch.nn.Linear(3, 2).state_dict(), lbuf, _use_new_zipfile_serialization=False)
# Storage keys are memory addresses: replaced by numbers of the same length (read with pickletools, not unpickled).
legacy, stream = lbuf.getvalue(), io.BytesIO(lbuf.getvalue())
for _ in range(4):
    for _ in pickletools.genops(stream):
        pass
keys = [arg for _, arg, _ in pickletools.genops(stream) if isinstance(arg, str)]
for i, key in enumerate(keys):
    legacy = legacy.replace(key.encode(), str(i).zfill(len(key)).encode())
write("ok_torch_legacy.pt", legacy)
sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
write("mal_torch_legacy.pt",
      pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps(sys_info, protocol=2)
      + pickle.dumps(OsSystem(), protocol=2) + pickle.dumps([], protocol=2))


# safetensors, written to its specification: an 8-byte little-endian header length, the JSON header, the tensor bytes.
def safetensors(tensors, metadata=None, header_length=None, offsets=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if offsets is not None:
        header[next(iter(tensors))]["data_offsets"] = offsets
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", header_length if header_length is not None else len(text)) + text + data


st = {"weight": ("F32", np.arange(6, dtype=np.float32).reshape(2, 3)), "bias": ("F32", np.zeros(2, dtype=np.float32)),
      "step": ("I64", np.array([3], dtype=np.int64))}
write("ok_tensors.safetensors", safetensors(st, metadata={"format": "pt"}))
write("mal_safetensors_header_past_end.safetensors", safetensors(st, header_length=1 << 20))
write("mal_safetensors_offsets.safetensors", safetensors(st, offsets=[0, 1 << 30]))


# ONNX and TensorFlow SavedModel protobufs, encoded by hand (field numbers from onnx.proto and saved_model.proto).
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


node = field(1, "x") + field(2, "y") + field(4, "Identity")
graph = field(1, node) + field(2, "g") + field(11, field(1, "x")) + field(12, field(1, "y"))
write("ok_identity.onnx", field(1, 8) + field(2, "make_fixtures") + field(7, graph) + field(8, field(1, "") + field(2, 13)))
os.makedirs(os.path.join(HERE, "tf_savedmodel"), exist_ok=True)
with open(os.path.join(HERE, "tf_savedmodel", "saved_model.pb"), "wb") as f:
    f.write(field(1, 1) + field(2, field(1, field(4, "serve"))))
