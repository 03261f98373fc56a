/* Compiled twin of StateEncoder's feature walk (memory/embeddings/encoder.py).
 *
 * The Python walk in encoder.py is the reference; this module does exactly the same appends in the same
 * order, so both give identical Features (tests/test_encoder_native.py checks that on arbitrary states).
 * Everything rare — a path seen for the first time, a new string, a subclass of a JSON type, a bad value,
 * an int beyond int64 — is handed back to the encoder's Python methods, so validation messages and slot
 * creation live in one place. A cached string or path was validated when it was first seen.
 *
 * Ownership: every object taken from a container is held (Py_INCREF) while code that could run Python
 * (a method call, a str subclass key's __hash__ or __eq__) may drop the container's own reference to it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <float.h>
#include <math.h>
#include <string.h>

#define MAX_DEPTH 64
#define LIST_POSITIONS 16

/* One path in the state tree (the Python twin is encoder._PySlot). */
typedef struct {
    PyObject_HEAD
    PyObject *path;     /* str */
    PyObject *base;     /* int: first feature offset of a number at this path */
    PyObject *children; /* dict: key -> Slot */
    PyObject *items;    /* list of Slot, one per list position */
    PyObject *strings;  /* dict: text -> (list of feature indices, list of weights) */
} SlotObject;

static PyObject *
Slot_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", "base", NULL};
    PyObject *path, *base;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UO!:Slot", kwlist, &path, &PyLong_Type, &base))
        return NULL;
    SlotObject *self = (SlotObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(path);
    self->path = path;
    Py_INCREF(base);
    self->base = base;
    self->children = PyDict_New();
    self->items = PyList_New(0);
    self->strings = PyDict_New();
    if (!self->children || !self->items || !self->strings) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
Slot_traverse(SlotObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->children);
    Py_VISIT(self->items);
    Py_VISIT(self->strings);
    return 0;
}

static int
Slot_clear(SlotObject *self)
{
    Py_CLEAR(self->children);
    Py_CLEAR(self->items);
    Py_CLEAR(self->strings);
    return 0;
}

static void
Slot_dealloc(SlotObject *self)
{
    PyObject_GC_UnTrack(self);
    Slot_clear(self);
    Py_CLEAR(self->path);
    Py_CLEAR(self->base);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Slot_members[] = {
    {"path", T_OBJECT_EX, offsetof(SlotObject, path), READONLY, "dotted path of this slot"},
    {"base", T_OBJECT_EX, offsetof(SlotObject, base), READONLY, "feature offset of a number here"},
    {"children", T_OBJECT_EX, offsetof(SlotObject, children), READONLY, "key -> child slot"},
    {"items", T_OBJECT_EX, offsetof(SlotObject, items), READONLY, "list position -> child slot"},
    {"strings", T_OBJECT_EX, offsetof(SlotObject, strings), READONLY, "text -> cached token features"},
    {NULL}
};

static PyTypeObject SlotType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memory.embeddings._speedups.Slot",
    .tp_doc = "One path in the state tree, with its cached feature offsets.",
    .tp_basicsize = sizeof(SlotObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Slot_new,
    .tp_dealloc = (destructor)Slot_dealloc,
    .tp_traverse = (traverseproc)Slot_traverse,
    .tp_clear = (inquiry)Slot_clear,
    .tp_members = Slot_members,
};

/* The output lists and the encoder whose methods handle the rare cases. */
typedef struct {
    PyObject *encoder, *idx, *wt, *nidx, *nval;
    double max_float; /* floats of this magnitude or more are rejected (NaN too) */
} Out;

static PyObject *str_child, *str_item, *str_string_features, *str_other, *str_bad_number, *str_too_deep,
    *str_big_int;

static int walk_dict(Out *o, PyObject *obj, SlotObject *slot, int depth);
static int walk_list(Out *o, PyObject *obj, SlotObject *slot, int depth);

static int
extend(PyObject *list, PyObject *more)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    return PyList_SetSlice(list, n, n, more);
}

/* An int beyond int64: the encoder's _big_int raises when JSON cannot write it (as the Python walk does). */
static int
check_big_int(Out *o, PyObject *value, SlotObject *child)
{
    int overflow;
    PyLong_AsLongLongAndOverflow(value, &overflow);
    if (!overflow)
        return 0;
    PyObject *r = PyObject_CallMethodObjArgs(o->encoder, str_big_int, (PyObject *)child, value, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Append one value's features (or recurse into it); `child` is its slot. */
static int
walk_value(Out *o, PyObject *value, SlotObject *child, int depth)
{
    PyTypeObject *t = Py_TYPE(value);
    if (t == &PyFloat_Type || t == &PyLong_Type) {
        if (t == &PyFloat_Type && !(fabs(PyFloat_AS_DOUBLE(value)) < o->max_float)) {
            PyObject *r = PyObject_CallMethodObjArgs(o->encoder, str_bad_number, (PyObject *)child, value, NULL);
            Py_XDECREF(r);
            if (r != NULL)
                PyErr_SetString(PyExc_RuntimeError, "_bad_number returned instead of raising");
            return -1;
        }
        if (t == &PyLong_Type && check_big_int(o, value, child) < 0)
            return -1;
        if (PyList_Append(o->nidx, child->base) < 0)
            return -1;
        return PyList_Append(o->nval, value);
    }
    if (t == &PyUnicode_Type) {
        PyObject *f = PyDict_GetItemWithError(child->strings, value);
        if (f != NULL)
            Py_INCREF(f);
        else if (!PyErr_Occurred())
            f = PyObject_CallMethodObjArgs(o->encoder, str_string_features, (PyObject *)child, value, NULL);
        if (f == NULL)
            return -1;
        int rc = -1;
        if (!PyTuple_Check(f) || PyTuple_GET_SIZE(f) != 2)
            PyErr_SetString(PyExc_TypeError, "string features must be an (indices, weights) tuple");
        else if (extend(o->idx, PyTuple_GET_ITEM(f, 0)) == 0)
            rc = extend(o->wt, PyTuple_GET_ITEM(f, 1));
        Py_DECREF(f);
        return rc;
    }
    if (t == &PyDict_Type)
        return walk_dict(o, value, child, depth + 1);
    if (t == &PyList_Type || t == &PyTuple_Type)
        return walk_list(o, value, child, depth + 1);
    /* bool, None, subclasses of JSON types, and everything JSON cannot hold */
    PyObject *d = PyLong_FromLong(depth + 1);
    if (d == NULL)
        return -1;
    PyObject *r = PyObject_CallMethodObjArgs(o->encoder, str_other, value, (PyObject *)child,
                                             o->idx, o->wt, o->nidx, o->nval, d, NULL);
    Py_DECREF(d);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
too_deep(Out *o)
{
    PyObject *r = PyObject_CallMethodNoArgs(o->encoder, str_too_deep);
    Py_XDECREF(r);
    if (r != NULL)
        PyErr_SetString(PyExc_RuntimeError, "_too_deep returned instead of raising");
    return -1;
}

static SlotObject *
as_slot(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &SlotType)) {
        PyErr_Format(PyExc_TypeError, "expected a Slot, got %.100s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return (SlotObject *)obj;
}

static int
walk_dict(Out *o, PyObject *obj, SlotObject *slot, int depth)
{
    if (depth > MAX_DEPTH)
        return too_deep(o);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *child = NULL; /* new reference */
        int rc = -1;
        if (PyUnicode_CheckExact(key)) {
            child = PyDict_GetItemWithError(slot->children, key);
            Py_XINCREF(child);
        }
        if (child == NULL && !PyErr_Occurred())
            child = PyObject_CallMethodObjArgs(o->encoder, str_child, (PyObject *)slot, key, NULL);
        if (child != NULL && as_slot(child) != NULL)
            rc = walk_value(o, value, (SlotObject *)child, depth);
        Py_XDECREF(child);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
walk_list(Out *o, PyObject *obj, SlotObject *slot, int depth)
{
    if (depth > MAX_DEPTH)
        return too_deep(o);
    int is_list = PyList_CheckExact(obj);
    for (Py_ssize_t i = 0;; i++) {
        Py_ssize_t size = is_list ? PyList_GET_SIZE(obj) : PyTuple_GET_SIZE(obj);
        if (i >= size)
            break;
        PyObject *value = is_list ? PyList_GET_ITEM(obj, i) : PyTuple_GET_ITEM(obj, i);
        Py_ssize_t n_items = PyList_GET_SIZE(slot->items);
        PyObject *child; /* new reference */
        if (i < n_items) {
            child = PyList_GET_ITEM(slot->items, i);
            Py_INCREF(child);
        } else if (i < LIST_POSITIONS || n_items <= LIST_POSITIONS) {
            PyObject *pos = PyLong_FromSsize_t(i < LIST_POSITIONS ? i : LIST_POSITIONS);
            if (pos == NULL)
                return -1;
            child = PyObject_CallMethodObjArgs(o->encoder, str_item, (PyObject *)slot, pos, NULL);
            Py_DECREF(pos);
            if (child == NULL)
                return -1;
        } else {
            child = PyList_GET_ITEM(slot->items, LIST_POSITIONS);
            Py_INCREF(child);
        }
        Py_INCREF(value);
        int rc = as_slot(child) != NULL ? walk_value(o, value, (SlotObject *)child, depth) : -1;
        Py_DECREF(value);
        Py_DECREF(child);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
check_list(PyObject *obj, const char *name)
{
    if (!PyList_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list", name);
        return -1;
    }
    return 0;
}

static PyObject *
walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "walk(encoder, obj, slot, idx, wt, nidx, nval, max_float)");
        return NULL;
    }
    Out o = {args[0], args[3], args[4], args[5], args[6], 0.0};
    PyObject *obj = args[1];
    SlotObject *slot = as_slot(args[2]);
    if (slot == NULL || check_list(o.idx, "idx") || check_list(o.wt, "wt") || check_list(o.nidx, "nidx")
        || check_list(o.nval, "nval"))
        return NULL;
    o.max_float = PyFloat_AsDouble(args[7]);
    if (o.max_float == -1.0 && PyErr_Occurred())
        return NULL;
    int rc;
    if (PyDict_CheckExact(obj))
        rc = walk_dict(&o, obj, slot, 0);
    else if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj))
        rc = walk_list(&o, obj, slot, 0);
    else {
        PyErr_SetString(PyExc_TypeError, "walk expects an exact dict, list or tuple");
        return NULL;
    }
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}


/* ---- vectors: the twin of StateEncoder._chunk_vectors (same features, same sums, same order) ---- */

static int
long_at(PyObject *list, Py_ssize_t i, long *out)
{
    *out = PyLong_AsLong(PyList_GET_ITEM(list, i));
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
double_at(PyObject *list, Py_ssize_t i, double *out)
{
    PyObject *v = PyList_GET_ITEM(list, i);
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    *out = PyFloat_AsDouble(v);
    if (*out == -1.0 && PyErr_Occurred()) {
        /* an int beyond the float range (JSON allows it): the largest float of its sign, as in the Python path */
        if (!PyLong_Check(v) || !PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        int sign = _PyLong_Sign(v);
        *out = sign < 0 ? -DBL_MAX : DBL_MAX;
    }
    return 0;
}

/* vectors(idx, wt, nidx, nval, ends, nends, dim, number_weight, out): fill out, a writable C-contiguous
 * float32 buffer of len(ends) * dim, with each state's unit vector. */
static PyObject *
vectors(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "vectors(idx, wt, nidx, nval, ends, nends, dim, number_weight, out)");
        return NULL;
    }
    PyObject *idx = args[0], *wt = args[1], *nidx = args[2], *nval = args[3], *ends = args[4], *nends = args[5];
    if (check_list(idx, "idx") || check_list(wt, "wt") || check_list(nidx, "nidx") || check_list(nval, "nval")
        || check_list(ends, "ends") || check_list(nends, "nends"))
        return NULL;
    long dim = PyLong_AsLong(args[6]);
    double number_weight = PyFloat_AsDouble(args[7]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(ends);
    if (dim < 6 || PyList_GET_SIZE(nends) != n || PyList_GET_SIZE(idx) != PyList_GET_SIZE(wt)
        || PyList_GET_SIZE(nidx) != PyList_GET_SIZE(nval)) {
        PyErr_SetString(PyExc_ValueError, "vectors: inconsistent feature lists");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[8], &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (view.len != (Py_ssize_t)(n * dim * sizeof(float))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "vectors: out must hold len(ends) * dim float32");
        return NULL;
    }
    float *out = (float *)view.buf;
    double *acc = PyMem_Malloc(2 * dim * sizeof(double));
    if (acc == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    double *num = acc + dim;
    Py_ssize_t s = 0, k = 0, n_idx = PyList_GET_SIZE(idx), n_num = PyList_GET_SIZE(nidx);
    int failed = 0;
    for (Py_ssize_t row = 0; row < n && !failed; row++) {
        long s_end, k_end;
        if (long_at(ends, row, &s_end) || long_at(nends, row, &k_end) || s_end < s || s_end > n_idx
            || k_end < k || k_end > n_num) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "vectors: ends out of range");
            failed = 1;
            break;
        }
        memset(acc, 0, 2 * dim * sizeof(double));
        for (; s < s_end; s++) {
            long j;
            double w;
            if (long_at(idx, s, &j) || double_at(wt, s, &w) || j < 0 || j >= dim) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "vectors: feature index out of range");
                failed = 1;
                break;
            }
            acc[j] += w;
        }
        int any_number = k < k_end;
        for (; k < k_end && !failed; k++) {
            long b;
            double x;
            if (long_at(nidx, k, &b) || double_at(nval, k, &x) || b < 0 || b >= dim) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "vectors: number offset out of range");
                failed = 1;
                break;
            }
            double y = copysign(log1p(fabs(x)), x);
            double c1 = cos(y), s1 = sin(y);
            double c2 = 2 * c1 * c1 - 1, s2 = 2 * s1 * c1;
            double c4 = 2 * c2 * c2 - 1, s4 = 2 * s2 * c2;
            double c8 = 2 * c4 * c4 - 1, s8 = 2 * s4 * c4;
            double c16 = 2 * c8 * c8 - 1, s16 = 2 * s8 * c8;
            double v[6] = {c1, c4, c16, s1, s4, s16};
            for (int q = 0; q < 6; q++)
                num[(b + q) % dim] += v[q];
        }
        if (failed)
            break;
        double sq = 0.0;
        for (long d = 0; d < dim; d++) {
            if (any_number)
                acc[d] += num[d] * number_weight;
            sq += acc[d] * acc[d];
        }
        double norm = sqrt(sq);
        if (norm == 0.0)
            norm = 1.0;
        float *o = out + row * dim;
        for (long d = 0; d < dim; d++)
            o[d] = (float)(acc[d] / norm);
    }
    PyMem_Free(acc);
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}


/* ---- round_floats: the twin of codec.round_floats (float(format(x, ".<p>g")) on every float) ---- */

static PyObject *
round_one(PyObject *value, int precision)
{
    char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(value), 'g', precision, 0, NULL);
    if (text == NULL)
        return NULL;
    double rounded = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    if (rounded == -1.0 && PyErr_Occurred())
        return NULL;
    return PyFloat_FromDouble(rounded);
}

static PyObject *round_tree(PyObject *obj, int precision, int depth);

/* A child value (borrowed from its container): floats rounded, exact containers copied with rounding,
 * anything else shared. The child is held while it is copied: a key's __hash__ or __eq__ (run when the
 * copy inserts it) may drop the container's reference, and the Python reference keeps its own. */
static PyObject *
round_child(PyObject *value, int precision, int depth)
{
    PyTypeObject *t = Py_TYPE(value);
    if (t == &PyFloat_Type)
        return round_one(value, precision);
    if (t == &PyDict_Type || t == &PyList_Type || t == &PyTuple_Type) {
        Py_INCREF(value);
        PyObject *r = round_tree(value, precision, depth + 1);
        Py_DECREF(value);
        return r;
    }
    Py_INCREF(value);
    return value;
}

/* Copy a dict, rounding; iterates like the Python reference's dict comprehension: a size change, or more
 * entries than it started with, is the RuntimeError a dict iterator raises. */
static PyObject *
round_dict(PyObject *obj, int precision, int depth)
{
    Py_ssize_t size = PyDict_GET_SIZE(obj), seen = 0, pos = 0;
    PyObject *out = _PyDict_NewPresized(size);
    if (out == NULL)
        return NULL;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        if (++seen > size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary keys changed during iteration");
            goto fail;
        }
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *r = round_child(value, precision, depth);
        int rc = r == NULL ? -1 : PyDict_SetItem(out, key, r);
        Py_DECREF(key);
        Py_DECREF(value);
        Py_XDECREF(r);
        if (rc < 0)
            goto fail;
        if (PyDict_GET_SIZE(obj) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            goto fail;
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* Copy a list or tuple into a list, rounding; like the Python reference's list comprehension, it walks a
 * list until its current end (items added while copying are copied, removed ones are not). */
static PyObject *
round_sequence(PyObject *obj, int precision, int depth)
{
    int is_list = PyList_CheckExact(obj);
    Py_ssize_t n = is_list ? PyList_GET_SIZE(obj) : PyTuple_GET_SIZE(obj), i;
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (i = 0; i < (is_list ? PyList_GET_SIZE(obj) : n); i++) {
        PyObject *item = is_list ? PyList_GET_ITEM(obj, i) : PyTuple_GET_ITEM(obj, i);
        Py_INCREF(item);
        PyObject *r = round_child(item, precision, depth);
        Py_DECREF(item);
        if (r == NULL)
            goto fail;
        if (i < n)
            PyList_SET_ITEM(out, i, r);
        else {
            int rc = PyList_Append(out, r);
            Py_DECREF(r);
            if (rc < 0)
                goto fail;
        }
    }
    if (i < n)
        Py_SET_SIZE(out, i); /* the list shrank while copying: the slots past i are still NULL */
    return out;
fail:
    if (i < n)
        Py_SET_SIZE(out, i);
    Py_DECREF(out);
    return NULL;
}

static PyObject *
round_tree(PyObject *obj, int precision, int depth)
{
    if (depth > 4 * MAX_DEPTH) {
        PyErr_SetString(PyExc_RecursionError, "round_floats: content nests too deep");
        return NULL;
    }
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyFloat_Type)
        return round_one(obj, precision);
    if (t == &PyDict_Type)
        return round_dict(obj, precision, depth);
    if (t == &PyList_Type || t == &PyTuple_Type)
        return round_sequence(obj, precision, depth);
    Py_INCREF(obj);
    return obj;
}

static PyObject *
round_floats(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "round_floats(obj, precision)");
        return NULL;
    }
    long precision = PyLong_AsLong(args[1]);
    if (precision == -1 && PyErr_Occurred())
        return NULL;
    if (precision < 1 || precision > 17) {
        PyErr_SetString(PyExc_ValueError, "round_floats: precision must be 1..17");
        return NULL;
    }
    return round_tree(args[0], (int)precision, 0);
}

static PyMethodDef speedups_methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(encoder, obj, slot, idx, wt, nidx, nval, max_float): append obj's features under slot to the lists."},
    {"vectors", (PyCFunction)(void (*)(void))vectors, METH_FASTCALL,
     "vectors(idx, wt, nidx, nval, ends, nends, dim, number_weight, out): each state's unit vector into out."},
    {"round_floats", (PyCFunction)(void (*)(void))round_floats, METH_FASTCALL,
     "round_floats(obj, precision): a copy of obj with every float rounded to precision significant digits."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "_speedups", "Compiled twins of the encoder walk, its vectoriser and the codec rounding.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&SlotType) < 0)
        return NULL;
    if (!(str_child = PyUnicode_InternFromString("_child")) || !(str_item = PyUnicode_InternFromString("_item"))
        || !(str_string_features = PyUnicode_InternFromString("_string_features"))
        || !(str_other = PyUnicode_InternFromString("_other"))
        || !(str_bad_number = PyUnicode_InternFromString("_bad_number"))
        || !(str_too_deep = PyUnicode_InternFromString("_too_deep"))
        || !(str_big_int = PyUnicode_InternFromString("_big_int")))
        return NULL;
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SlotType);
    if (PyModule_AddObject(m, "Slot", (PyObject *)&SlotType) < 0) {
        Py_DECREF(&SlotType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
