export default window.JSZip;
