export default window.Konva;
