// Open MPI's C API, loaded at run time (dlopen of libmpi.so.40) so that Folio builds and runs without MPI installed;
// only `--tensor-parallel-size N` under `mpirun` needs it. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM,
// ...) are addresses of its global objects, looked up by name like the functions.
#include "CFolioKernels.h"
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef int (*init_thread_fn)(int *, char ***, int, int *);
typedef int (*comm_int_fn)(void *, int *);
typedef int (*allreduce_fn)(const void *, void *, int, void *, void *, void *);
typedef int (*bcast_fn)(void *, int, void *, int, void *);
typedef int (*gatherv_fn)(const void *, int, void *, void *, const int *, const int *, void *, int, void *);
typedef int (*send_fn)(const void *, int, void *, int, int, void *);
typedef int (*recv_fn)(void *, int, void *, int, int, void *, void *);
typedef int (*isend_fn)(const void *, int, void *, int, int, void *, void **);
typedef int (*wait_fn)(void **, void *);
typedef int (*irecv_fn)(void *, int, void *, int, int, void *, void **);
typedef int (*abort_fn)(void *, int);
typedef int (*finalize_fn)(void);

static struct {
    int loaded;
    init_thread_fn init_thread;
    comm_int_fn comm_rank, comm_size;
    allreduce_fn allreduce;
    bcast_fn bcast;
    gatherv_fn gatherv;
    send_fn send;
    recv_fn recv;
    isend_fn isend;
    wait_fn wait;
    irecv_fn irecv;
    abort_fn abort_;
    finalize_fn finalize;
    void *world, *f32, *byte, *sum;
} mpi;

#define MPI_IN_PLACE_OMPI ((void *)1)
/// MPI counts are ints: larger buffers go in pieces of at most CHUNK elements.
#define CHUNK ((int64_t)(INT32_MAX / 2))
static int piece(int64_t total, int64_t off) { return (int)(total - off < CHUNK ? total - off : CHUNK); }
#define MPI_THREAD_SERIALIZED_OMPI 2

static char load_error[256];

const char *folio_mpi_error(void) { return load_error; }

static int load(void) {
    if (mpi.loaded) return mpi.loaded > 0 ? 0 : -1;
    const char *names[] = {"libmpi.so.40", "libmpi.so"};
    void *h = NULL;
    for (int i = 0; i < 2 && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "cannot load Open MPI's libmpi.so.40 (install openmpi-bin): %s", dlerror());
        mpi.loaded = -1;
        return -1;
    }
#define SYM(field, name) if (!(*(void **)&mpi.field = dlsym(h, name))) { snprintf(load_error, sizeof load_error, "libmpi lacks %s (Open MPI 4 or 5 is needed)", name); mpi.loaded = -1; return -1; }
    SYM(init_thread, "MPI_Init_thread")
    SYM(comm_rank, "MPI_Comm_rank")
    SYM(comm_size, "MPI_Comm_size")
    SYM(allreduce, "MPI_Allreduce")
    SYM(bcast, "MPI_Bcast")
    SYM(gatherv, "MPI_Gatherv")
    SYM(send, "MPI_Send")
    SYM(recv, "MPI_Recv")
    SYM(isend, "MPI_Isend")
    SYM(wait, "MPI_Wait")
    SYM(irecv, "MPI_Irecv")
    SYM(abort_, "MPI_Abort")
    SYM(finalize, "MPI_Finalize")
    SYM(world, "ompi_mpi_comm_world")
    SYM(f32, "ompi_mpi_float")
    SYM(byte, "ompi_mpi_byte")
    SYM(sum, "ompi_mpi_op_sum")
#undef SYM
    mpi.loaded = 1;
    return 0;
}

int folio_mpi_init(int *rank, int *size) {
    if (load() != 0) return -1;
    int provided = 0;
    if (mpi.init_thread(NULL, NULL, MPI_THREAD_SERIALIZED_OMPI, &provided) != 0) {
        snprintf(load_error, sizeof load_error, "MPI_Init_thread failed");
        return -2;
    }
    if (provided < MPI_THREAD_SERIALIZED_OMPI) {
        snprintf(load_error, sizeof load_error, "this MPI does not allow calls from any one thread at a time (MPI_THREAD_SERIALIZED)");
        return -2;
    }
    mpi.comm_rank(mpi.world, rank);
    mpi.comm_size(mpi.world, size);
    return 0;
}

int folio_mpi_allreduce_sum(float *buf, int64_t n) {
    for (int64_t off = 0; off < n; off += CHUNK) {
        const int c = piece(n, off);
        if (mpi.allreduce(MPI_IN_PLACE_OMPI, buf + off, c, mpi.f32, mpi.sum, mpi.world) != 0) return -1;
    }
    return 0;
}

int folio_mpi_bcast(void *buf, int64_t bytes, int root) {
    for (int64_t off = 0; off < bytes; off += CHUNK) {
        const int c = piece(bytes, off);
        if (mpi.bcast((char *)buf + off, c, mpi.byte, root, mpi.world) != 0) return -1;
    }
    return 0;
}

int folio_mpi_gatherv(const float *send, int count, float *recv, const int *counts, const int *displs, int root) {
    return mpi.gatherv(send, count, mpi.f32, recv, counts, displs, mpi.f32, root, mpi.world) == 0 ? 0 : -1;
}

int folio_mpi_send(const void *buf, int64_t bytes, int dest) {
    for (int64_t off = 0; off < bytes; off += CHUNK) {
        const int c = piece(bytes, off);
        if (mpi.send((const char *)buf + off, c, mpi.byte, dest, 0, mpi.world) != 0) return -1;
    }
    return 0;
}

int folio_mpi_recv(void *buf, int64_t bytes, int source) {
    for (int64_t off = 0; off < bytes; off += CHUNK) {
        const int c = piece(bytes, off);
        // NULL is Open MPI's MPI_STATUS_IGNORE.
        if (mpi.recv((char *)buf + off, c, mpi.byte, source, 0, mpi.world, NULL) != 0) return -1;
    }
    return 0;
}

int folio_mpi_isend(const void *buf, int64_t bytes, int dest, void **request) {
    if (bytes > CHUNK) return -1;
    return mpi.isend(buf, (int)bytes, mpi.byte, dest, 0, mpi.world, request) == 0 ? 0 : -1;
}

int folio_mpi_irecv(void *buf, int64_t bytes, int source, void **request) {
    if (bytes > CHUNK) return -1;
    return mpi.irecv(buf, (int)bytes, mpi.byte, source, 0, mpi.world, request) == 0 ? 0 : -1;
}

int folio_mpi_wait(void **request) {
    // NULL is Open MPI's MPI_STATUS_IGNORE.
    return mpi.wait(request, NULL) == 0 ? 0 : -1;
}

void folio_mpi_abort(int code) { if (mpi.loaded > 0) mpi.abort_(mpi.world, code); }

int folio_mpi_finalize(void) { return mpi.loaded > 0 ? mpi.finalize() : 0; }
