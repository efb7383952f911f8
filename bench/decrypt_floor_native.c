/*
 * decrypt_floor_native: the floor of a decrypting download server, for bench/download.py.
 *
 * Serves one SecureDrive blob (files/crypto.py format: 50-byte header, AES-256-GCM
 * segments whose nonce is prefix || index (uint32, big-endian) || last flag and whose
 * associated data is the header) as plaintext over HTTP/1.1 on 127.0.0.1, with
 * nothing but the work per byte that any server keeping files encrypted at rest must
 * do: pread the sealed segment, decrypt it with the system's OpenSSL (libcrypto),
 * check its tag, send it. No HTTP parsing beyond the end of the request, no
 * authentication, no audit, no Python. (Python's cryptography bundles its own OpenSSL,
 * which may be newer and faster at AES-GCM than the system's: download.py prints the
 * AES-GCM rate of both.)
 *
 *   decrypt_floor_native PORT BLOB KEY_HEX [ahead]
 *
 * KEY_HEX is the blob's derived AES key (HKDF output, 64 hex digits). With "ahead", a
 * second thread decrypts up to RING segments ahead of the sending thread (the
 * "decrypt on the second core" design, without Python's GIL or allocations).
 * Prints "ready" once listening. Serves connections one after another until killed.
 *
 * It is a measuring instrument, not product code: it trusts its arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 50
#define TAG_SIZE 16
#define RING 4

static int blob_fd;
static unsigned char header[HEADER_SIZE];
static unsigned char key[32];
static uint32_t segment_size;
static uint64_t segment_count, plaintext_size, last_length;

typedef struct {
    unsigned char *sealed, *plain;
    size_t length; /* plaintext bytes ready, or (size_t)-1 on failure */
} slot_t;

static slot_t ring[RING];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static uint64_t produced, consumed;
static int stopping; /* the sender gave up: the producer stops */

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Reads and decrypts segment `index` into slot->plain; returns its plaintext length or -1. */
static long open_segment(EVP_CIPHER_CTX *ctx, uint64_t index, slot_t *slot) {
    int last = index == segment_count - 1;
    size_t sealed_length = last ? last_length : segment_size + TAG_SIZE;
    off_t offset = HEADER_SIZE + (off_t)index * (segment_size + TAG_SIZE);
    size_t filled = 0;
    while (filled < sealed_length) {
        ssize_t n = pread(blob_fd, slot->sealed + filled, sealed_length - filled, offset + filled);
        if (n <= 0) return -1;
        filled += (size_t)n;
    }
    unsigned char nonce[12];
    memcpy(nonce, header + 43, 7);
    nonce[7] = (unsigned char)(index >> 24);
    nonce[8] = (unsigned char)(index >> 16);
    nonce[9] = (unsigned char)(index >> 8);
    nonce[10] = (unsigned char)index;
    nonce[11] = last ? 1 : 0;
    int out = 0, final = 0;
    size_t length = sealed_length - TAG_SIZE;
    if (!EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce)) return -1;
    if (!EVP_DecryptUpdate(ctx, NULL, &out, header, HEADER_SIZE)) return -1;
    if (!EVP_DecryptUpdate(ctx, slot->plain, &out, slot->sealed, (int)length)) return -1;
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, slot->sealed + length)) return -1;
    if (EVP_DecryptFinal_ex(ctx, slot->plain + out, &final) <= 0) return -1; /* tag mismatch */
    return (long)length;
}

static EVP_CIPHER_CTX *new_context(void) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL)) die("EVP");
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    EVP_DecryptInit_ex(ctx, NULL, NULL, key, NULL);
    return ctx;
}

static void *decrypt_ahead(void *unused) {
    (void)unused;
    EVP_CIPHER_CTX *ctx = new_context();
    for (uint64_t index = 0; index < segment_count; index++) {
        pthread_mutex_lock(&lock);
        while (produced - consumed == RING && !stopping) pthread_cond_wait(&changed, &lock);
        int stop = stopping;
        pthread_mutex_unlock(&lock);
        if (stop) break;
        slot_t *slot = &ring[index % RING];
        long n = open_segment(ctx, index, slot);
        slot->length = n < 0 ? (size_t)-1 : (size_t)n;
        pthread_mutex_lock(&lock);
        produced++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
        if (n < 0) break;
    }
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
}

static int send_all(int fd, const unsigned char *data, size_t length) {
    while (length) {
        ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

static void serve(int client, int ahead, EVP_CIPHER_CTX *ctx) {
    char request[8192];
    size_t got = 0;
    while (got < sizeof request - 1) {
        ssize_t n = recv(client, request + got, sizeof request - 1 - got, 0);
        if (n <= 0) return;
        got += (size_t)n;
        request[got] = 0;
        if (strstr(request, "\r\n\r\n")) break;
    }
    char head[256];
    int head_length = snprintf(head, sizeof head,
                               "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                               (unsigned long long)plaintext_size);
    if (send_all(client, (unsigned char *)head, (size_t)head_length)) return;
    pthread_t thread;
    if (ahead) {
        produced = consumed = 0;
        stopping = 0;
        pthread_create(&thread, NULL, decrypt_ahead, NULL);
    }
    for (uint64_t index = 0; index < segment_count; index++) {
        slot_t *slot = &ring[index % RING];
        if (ahead) {
            pthread_mutex_lock(&lock);
            while (produced == consumed) pthread_cond_wait(&changed, &lock);
            pthread_mutex_unlock(&lock);
        } else {
            long n = open_segment(ctx, index, slot);
            slot->length = n < 0 ? (size_t)-1 : (size_t)n;
        }
        int failed = slot->length == (size_t)-1 || send_all(client, slot->plain, slot->length);
        if (ahead) {
            pthread_mutex_lock(&lock);
            consumed++;
            pthread_cond_broadcast(&changed);
            pthread_mutex_unlock(&lock);
        }
        if (failed) {
            if (slot->length == (size_t)-1) fprintf(stderr, "segment %llu failed\n", (unsigned long long)index);
            if (ahead) {
                pthread_mutex_lock(&lock);
                stopping = 1;
                pthread_cond_broadcast(&changed);
                pthread_mutex_unlock(&lock);
            }
            break;
        }
    }
    if (ahead) pthread_join(thread, NULL);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT BLOB KEY_HEX [ahead]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int ahead = argc > 4 && strcmp(argv[4], "ahead") == 0;
    blob_fd = open(argv[2], O_RDONLY);
    if (blob_fd < 0) die("open");
    for (int i = 0; i < 32; i++) sscanf(argv[3] + 2 * i, "%2hhx", &key[i]);
    if (pread(blob_fd, header, HEADER_SIZE, 0) != HEADER_SIZE) die("header");
    segment_size = ((uint32_t)header[7] << 24) | ((uint32_t)header[8] << 16) |
                   ((uint32_t)header[9] << 8) | header[10];
    struct stat st;
    fstat(blob_fd, &st);
    uint64_t body = (uint64_t)st.st_size - HEADER_SIZE;
    segment_count = (body + segment_size + TAG_SIZE - 1) / (segment_size + TAG_SIZE);
    last_length = body - (segment_count - 1) * (segment_size + TAG_SIZE);
    plaintext_size = body - segment_count * TAG_SIZE;
    for (int i = 0; i < RING; i++) {
        ring[i].sealed = malloc(segment_size + TAG_SIZE);
        ring[i].plain = malloc(segment_size + TAG_SIZE);
        if (!ring[i].sealed || !ring[i].plain) die("malloc");
    }
    EVP_CIPHER_CTX *ctx = new_context();

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address)) die("bind");
    if (listen(listener, 16)) die("listen");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        serve(client, ahead, ctx);
        close(client);
    }
}
