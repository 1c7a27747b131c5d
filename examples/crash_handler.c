/* crash_handler: a program that embeds CPython, installs the libpydebug crash
 * handler, and then crashes in a C function called from Python code.
 *
 * The dump shows the Python frames that led to the crash (faulthandler's
 * format) and the native frames, with `crashmod_crash` on top:
 *
 *     Fatal Python error: Segmentation fault
 *
 *     Current thread 0x00007f... (most recent call first):
 *       File "<embedded>", line 4 in crash_from_python
 *       File "<embedded>", line 7 in main
 *       File "<embedded>", line 9 in <module>
 *
 *     Current thread's C stack trace (most recent call first):
 *       Binary file "/path/to/crash_handler", at crashmod_crash+0x... [0x...]
 *
 * Build: cc crash_handler.c $(pkg-config --cflags --libs python3-embed pydebug)
 * The dump goes to stderr, or to the file named by CRASH_HANDLER_OUTPUT. The
 * process then dies of SIGSEGV, as it would without the handler. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <pydebug.h>

/* noinline: the native dump must name this function. */
__attribute__((noinline)) void crashmod_crash(volatile int *where);
__attribute__((noinline)) void crashmod_crash(volatile int *where)
{
    *where = 42; /* where is NULL: SIGSEGV */
}

static PyObject *crash(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    crashmod_crash(NULL);
    Py_RETURN_NONE;
}

static PyMethodDef crash_methods[] = {
    {"crash", crash, METH_NOARGS, "Write to NULL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef crash_module = {
    PyModuleDef_HEAD_INIT, "crashmod", NULL, -1, crash_methods, NULL, NULL, NULL, NULL,
};

static PyObject *init_crashmod(void)
{
    return PyModule_Create(&crash_module);
}

static const char script[] =
    "import crashmod\n"
    "\n"
    "def crash_from_python():\n"
    "    crashmod.crash()\n"
    "\n"
    "def main():\n"
    "    crash_from_python()\n"
    "\n"
    "main()\n";

int main(void)
{
    pydbg_faultdump_options options = PYDBG_FAULTDUMP_OPTIONS_INIT;
    const char *output = getenv("CRASH_HANDLER_OUTPUT");
    PyObject *code, *globals, *result;
    int rc;

    if (output && output[0]) {
        options.fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (options.fd < 0) {
            perror(output);
            return 1;
        }
    }
    /* Before Py_Initialize: what the handler locates is static data. */
    rc = pydbg_faultdump_install(&options);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "crash_handler: %s: %s\n", pydbg_strerror(rc), pydbg_last_error());
        return 1;
    }
    if (PyImport_AppendInittab("crashmod", init_crashmod) != 0)
        return 1;
    Py_Initialize();
    code = Py_CompileString(script, "<embedded>", Py_file_input);
    globals = PyDict_New();
    if (!code || !globals || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()))
        return 1;
    result = PyEval_EvalCode(code, globals, globals);
    if (!result)
        PyErr_Print();
    Py_XDECREF(result);
    Py_DECREF(code);
    Py_DECREF(globals);
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
